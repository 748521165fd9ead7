/**
 * A deep copy of a protobuf-es message (plain objects, arrays, typed arrays and scalars): the
 * binary round trip (toBinary then fromBinary) copies the same, but its reflection takes
 * 50–90 ms on mobilenet_v2's 75 KB program until V8 has optimized it, this 3–6 ms.
 */
export function copyMessage<T>(message: T): T {
  return copyValue(message) as T;
}

function copyValue(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = copyValue(value[i]);
    return copy;
  }
  if (ArrayBuffer.isView(value)) return (value as Uint8Array).slice();
  // Keeps the prototype, where protobuf-es holds the defaults of fields with explicit presence.
  const prototype = Object.getPrototypeOf(value) as object | null;
  const copy: Record<string, unknown> =
    prototype === Object.prototype ? {} : Object.create(prototype);
  for (const key of Object.keys(value))
    copy[key] = copyValue((value as Record<string, unknown>)[key]);
  return copy;
}
