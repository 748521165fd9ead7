;; Elementwise SIMD kernels of the interpreter's activations (called through ../simd/heap.ts;
;; the runtime's JavaScript loops in runtime/ops/ are the reference). Each takes `count` floats
;; at src (whole vectors: callers round up, the heap leaves room) and writes dst, with the
;; reference's exact arithmetic: comparisons as `v < lo ? lo : v` (pmax and pmin keep NaN and
;; the sign of zero as it does), quantization in float64 as JavaScript numbers. Branchless,
;; where the JavaScript loops mispredict on signs. Assembled by `npm run gen:wasm`.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; dst = min(max(src, lo), hi) as the clip op computes it.
  (func (export "clamp") (param $src i32) (param $dst i32) (param $count i32) (param $lo f32) (param $hi f32)
    (local $end i32) (local $vlo v128) (local $vhi v128)
    (local.set $vlo (f32x4.splat (local.get $lo)))
    (local.set $vhi (f32x4.splat (local.get $hi)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (v128.store (local.get $dst)
          (f32x4.pmin (f32x4.pmax (v128.load (local.get $src)) (local.get $vlo)) (local.get $vhi)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; dst = clamp(round_half_even(src / scale) + zero_point, min, max), in float64.
  (func (export "quantize")
    (param $src i32) (param $dst i32) (param $count i32) (param $scale f64) (param $zero f64)
    (param $min f64) (param $max f64)
    (local $end i32) (local $s v128) (local $z v128) (local $lo v128) (local $hi v128) (local $x v128)
    (local.set $s (f64x2.splat (local.get $scale)))
    (local.set $z (f64x2.splat (local.get $zero)))
    (local.set $lo (f64x2.splat (local.get $min)))
    (local.set $hi (f64x2.splat (local.get $max)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (v128.load64_zero (local.get $src)))
        (local.set $x (f64x2.promote_low_f32x4 (local.get $x)))
        (local.set $x (f64x2.add (f64x2.nearest (f64x2.div (local.get $x) (local.get $s))) (local.get $z)))
        (v128.store64_lane 0 (local.get $dst)
          (f32x4.demote_f64x2_zero (f64x2.min (f64x2.max (local.get $x) (local.get $lo)) (local.get $hi))))
        (local.set $src (i32.add (local.get $src) (i32.const 8)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (br $next))))

  ;; dst = (src - zero_point) · scale.
  (func (export "dequantize")
    (param $src i32) (param $dst i32) (param $count i32) (param $scale f32) (param $zero f32)
    (local $end i32) (local $s v128) (local $z v128)
    (local.set $s (f32x4.splat (local.get $scale)))
    (local.set $z (f32x4.splat (local.get $zero)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (v128.store (local.get $dst)
          (f32x4.mul (f32x4.sub (v128.load (local.get $src)) (local.get $z)) (local.get $s)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))
)
