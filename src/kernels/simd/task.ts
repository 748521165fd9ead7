/** The SIMD team's serve loop as a worker task (parallel/tasks.ts loads it in pool workers). */
import "./gemm.js";
import "./streams.js";
import { SimdHeap } from "./heap.js";
import { serve, type ServePayload } from "./team.js";

/** This thread's instances, by heap. */
const attached = new Map<number, SimdHeap>();

/** Joins this worker to the team of the heap in `payload` and serves its jobs. */
export function simdServeTask(payload: ServePayload): void {
  let heap = attached.get(payload.heapId);
  if (!heap) {
    heap = SimdHeap.attach(payload.memory, payload.heapId, payload.fused);
    if (!heap) throw new Error("this worker cannot run the SIMD kernels");
    attached.set(payload.heapId, heap);
  }
  serve(heap, payload.control, payload.thread, payload.spinMs);
}
