/** Palettization kernels worker threads may run. */
import { registerTaskModule, registerTasks } from "../../parallel/tasks.js";
import { palettizeGroups, type GroupsInput } from "./modes.js";

registerTasks({ palettizeGroups: (payload: GroupsInput) => palettizeGroups(payload) });
registerTaskModule(import.meta.url);
