/** Worker-pool registration of the SIMD team's serve loop (loaded by pool workers). */
import { registerTaskModule, registerTasks } from "../../parallel/tasks.js";
import "./gemm.js";
import { SimdHeap } from "./heap.js";
import { SERVE_TASK, serve, type ServePayload } from "./team.js";

/** This thread's instances, by heap. */
const attached = new Map<number, SimdHeap>();

registerTasks({
  [SERVE_TASK]: (payload: ServePayload) => {
    let heap = attached.get(payload.heapId);
    if (!heap) {
      heap = SimdHeap.attach(payload.memory, payload.heapId);
      if (!heap) throw new Error("this worker cannot run the SIMD kernels");
      attached.set(payload.heapId, heap);
    }
    serve(heap, payload.control, payload.thread);
  },
});
registerTaskModule(import.meta.url);
