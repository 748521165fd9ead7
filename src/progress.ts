/**
 * The one shape of progress every long operation reports (rewrites, calibration runs, layer
 * walks), so a caller draws one kind of bar for all of them.
 */
export interface ProgressEvent {
  /** Units finished so far, of `total`. */
  done: number;
  total: number;
  /** What is being worked on now (empty once everything is done). */
  name: string;
  /** Bytes of input finished so far, of `bytesTotal`, where the work is measured in bytes. */
  bytesDone?: number;
  bytesTotal?: number;
}

export type ProgressCallback = (progress: ProgressEvent) => void;
