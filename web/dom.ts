/** A few lines of DOM building, in place of a UI library. */

type Child = Node | string | number | false | null | undefined;
type Attributes = Record<string, string | number | boolean | undefined>;

/** An element with attributes (false or undefined ones left out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === undefined) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === false || child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A table with a caption, header cells and rows; cells of `numeric` columns align right. */
export function table(
  caption: string,
  headers: string[],
  rows: Child[][],
  numeric: number[] = [],
): HTMLTableElement {
  const cell = (tag: "th" | "td", value: Child, column: number) =>
    h(
      tag,
      {
        class: numeric.includes(column) ? "num" : undefined,
        scope: tag === "th" ? "col" : undefined,
      },
      value,
    );
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((header, i) => cell("th", header, i)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((row) =>
        h(
          "tr",
          {},
          row.map((value, i) => cell("td", value, i)),
        ),
      ),
    ),
  );
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}
