;; Elementwise SIMD kernels of the interpreter's activations (called through ../simd/heap.ts;
;; the runtime's JavaScript loops in runtime/ops/ are the reference). Each takes `count` floats
;; at src (whole vectors: callers round up, the heap leaves room) and writes dst, with the
;; reference's exact arithmetic (but for GELU and softmax's exponential, within float32's
;; rounding: see each): comparisons as `v < lo ? lo : v` (pmax and pmin keep NaN and the sign
;; of zero as it does), quantization in float64 as JavaScript numbers. Branchless, where the
;; JavaScript loops mispredict on signs. Assembled by `npm run gen:wasm`, also with fused
;; multiply-adds where the host has them (GELU's and the exponential's polynomials, layer
;; norm's squares: within float32's rounding of the separate operations).
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; The constants of the loops below, read into locals before each loop: V8 builds a vector
  ;; constant anew (three instructions) at every use inside a loop, a local costs at most a load.
  (global $sqrt_half v128 (v128.const f32x4 0.707106781 0.707106781 0.707106781 0.707106781))
  (global $erf_p5 v128 (v128.const f32x4 -0.000563178153 -0.000563178153 -0.000563178153 -0.000563178153))
  (global $erf_p4 v128 (v128.const f32x4 0.00491765048 0.00491765048 0.00491765048 0.00491765048))
  (global $erf_p3 v128 (v128.const f32x4 -0.0267114118 -0.0267114118 -0.0267114118 -0.0267114118))
  (global $erf_p2 v128 (v128.const f32x4 0.112801842 0.112801842 0.112801842 0.112801842))
  (global $erf_p1 v128 (v128.const f32x4 -0.376123279 -0.376123279 -0.376123279 -0.376123279))
  (global $erf_p0 v128 (v128.const f32x4 1.12837911 1.12837911 1.12837911 1.12837911))
  (global $one v128 (v128.const f32x4 1 1 1 1))
  (global $half v128 (v128.const f32x4 0.5 0.5 0.5 0.5))
  (global $erfc_q7 v128 (v128.const f32x4 0.104823589 0.104823589 0.104823589 0.104823589))
  (global $erfc_q6 v128 (v128.const f32x4 -0.422165960 -0.422165960 -0.422165960 -0.422165960))
  (global $erfc_q5 v128 (v128.const f32x4 0.493149579 0.493149579 0.493149579 0.493149579))
  (global $erfc_q4 v128 (v128.const f32x4 -0.0485677980 -0.0485677980 -0.0485677980 -0.0485677980))
  (global $erfc_q3 v128 (v128.const f32x4 0.322191030 0.322191030 0.322191030 0.322191030))
  (global $erfc_q2 v128 (v128.const f32x4 0.266750365 0.266750365 0.266750365 0.266750365))
  (global $erfc_q1 v128 (v128.const f32x4 0.283843786 0.283843786 0.283843786 0.283843786))
  (global $erfc_q0 v128 (v128.const f32x4 -0.0000857167470 -0.0000857167470 -0.0000857167470 -0.0000857167470))
  (global $six v128 (v128.const f32x4 6 6 6 6))
  (global $two v128 (v128.const f32x4 2 2 2 2))
  (global $zero v128 (v128.const f32x4 0 0 0 0))
  (global $exp_floor v128 (v128.const f32x4 -87.3 -87.3 -87.3 -87.3))
  (global $log2_e v128 (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))
  (global $ln2_high v128 (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
  (global $ln2_low v128 (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))
  (global $taylor6 v128 (v128.const f32x4 1.38888889e-3 1.38888889e-3 1.38888889e-3 1.38888889e-3))
  (global $taylor7 v128 (v128.const f32x4 1.98412698e-4 1.98412698e-4 1.98412698e-4 1.98412698e-4))
  (global $taylor5 v128 (v128.const f32x4 8.33333333e-3 8.33333333e-3 8.33333333e-3 8.33333333e-3))
  (global $taylor4 v128 (v128.const f32x4 4.16666667e-2 4.16666667e-2 4.16666667e-2 4.16666667e-2))
  (global $taylor3 v128 (v128.const f32x4 0.166666667 0.166666667 0.166666667 0.166666667))
  (global $exponent_bias v128 (v128.const i32x4 127 127 127 127))

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

  ;; x op y (op 0 add, 1 sub, 2 mul, 3 div) of `count` floats: x at $x (x_length floats
  ;; repeating), y at $y (y_length repeating), to dst; each length is the count, 1, or a
  ;; multiple of 4 that divides it. float32 arithmetic gives JavaScript's bits: a double result
  ;; rounded to float32 is the float32 result for these operations.
  (func (export "arithmetic")
    (param $x i32) (param $x_length i32) (param $y i32) (param $y_length i32) (param $dst i32)
    (param $count i32) (param $op i32)
    (local $i i32) (local $ix i32) (local $iy i32) (local $a v128) (local $b v128) (local $r v128)
    (local $xb i32) (local $yb i32)
    ;; Two whole operands added (residual connections): a plain loop.
    (if (i32.and (i32.eqz (local.get $op))
          (i32.and (i32.eq (local.get $x_length) (local.get $count)) (i32.eq (local.get $y_length) (local.get $count))))
      (then
        (local.set $ix (i32.shl (local.get $count) (i32.const 2)))
        (block $sums_done
          (loop $sums
            (br_if $sums_done (i32.ge_u (local.get $i) (local.get $ix)))
            (v128.store (i32.add (local.get $dst) (local.get $i))
              (f32x4.add (v128.load (i32.add (local.get $x) (local.get $i))) (v128.load (i32.add (local.get $y) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $sums)))
        (return)))
    (local.set $xb (i32.shl (local.get $x_length) (i32.const 2)))
    (local.set $yb (i32.shl (local.get $y_length) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $a (if (result v128) (i32.eq (local.get $x_length) (i32.const 1))
          (then (v128.load32_splat (local.get $x)))
          (else (v128.load (i32.add (local.get $x) (local.get $ix))))))
        (local.set $b (if (result v128) (i32.eq (local.get $y_length) (i32.const 1))
          (then (v128.load32_splat (local.get $y)))
          (else (v128.load (i32.add (local.get $y) (local.get $iy))))))
        (block $computed
          (block $div
            (block $mul
              (block $sub
                (block $add
                  (br_table $add $sub $mul $div (local.get $op)))
                (local.set $r (f32x4.add (local.get $a) (local.get $b)))
                (br $computed))
              (local.set $r (f32x4.sub (local.get $a) (local.get $b)))
              (br $computed))
            (local.set $r (f32x4.mul (local.get $a) (local.get $b)))
            (br $computed))
          (local.set $r (f32x4.div (local.get $a) (local.get $b))))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))) (local.get $r))
        (local.set $ix (i32.add (local.get $ix) (i32.const 16)))
        (if (i32.ge_u (local.get $ix) (local.get $xb)) (then (local.set $ix (i32.const 0))))
        (local.set $iy (i32.add (local.get $iy) (i32.const 16)))
        (if (i32.ge_u (local.get $iy) (local.get $yb)) (then (local.set $iy (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next))))

  ;; dst = src > 0 ? src : 0 (so NaN and −0 become 0, as the relu op computes).
  (func (export "relu") (param $src i32) (param $dst i32) (param $count i32)
    (local $end i32) (local $x v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (v128.load (local.get $src)))
        (v128.store (local.get $dst)
          (v128.and (local.get $x) (f32x4.gt (local.get $x) (v128.const f32x4 0 0 0 0))))
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

  ;; The exact GELU, x·(1 + erf(x/√2))/2, of `count` floats at src to dst (not src), whole
  ;; vectors, in float32 (the float64 reference is geluExact in ../ops/elementwise.ts). With
  ;; u = x/√2 and a = |u|: below a = 1, erf(u) = u·P(u²); from a = 1, erfc(a) =
  ;; e^(−a²)·Q(1/(1 + a/2)), and 1 + erf(u) is 2 − erfc(a) for u ≥ 0 and erfc(a) itself for
  ;; u < 0, so negative inputs lose nothing to 1 − erf(a). P and Q are least-squares fits of
  ;; erf(a)/a over a² in [0, 1] and of erfc(a)·e^(a²) over a in [1, 6] (relative errors 4e-8
  ;; and 1e-8; under 3e-7 evaluated in float32, e^(−a²) adding 6e-8·a²). From a = 6, erfc(a)
  ;; < 2.2e-17 is 0 as in the reference: no subnormal outputs to slow the products that read
  ;; them. NaN and ±∞ give what the reference gives. Blocks of 64 vectors in three passes
  ;; (−u² into dst, its exponential there, the rest), so each loop's constants stay out of it.
  (func (export "gelu") (param $src i32) (param $dst i32) (param $count i32)
    (local $end i32) (local $block_end i32) (local $at i32) (local $out i32)
    (local $x v128) (local $u v128) (local $a v128) (local $z v128) (local $p v128) (local $t v128)
    (local $q v128) (local $e v128)
    (local $sqrt_half v128) (local $erf_p5 v128) (local $erf_p4 v128) (local $erf_p3 v128)
    (local $erf_p2 v128) (local $erf_p1 v128) (local $erf_p0 v128) (local $one v128)
    (local $half v128) (local $erfc_q7 v128) (local $erfc_q6 v128) (local $erfc_q5 v128)
    (local $erfc_q4 v128) (local $erfc_q3 v128) (local $erfc_q2 v128) (local $erfc_q1 v128)
    (local $erfc_q0 v128) (local $six v128) (local $two v128) (local $zero v128)
    (local.set $sqrt_half (global.get $sqrt_half))
    (local.set $erf_p5 (global.get $erf_p5))
    (local.set $erf_p4 (global.get $erf_p4))
    (local.set $erf_p3 (global.get $erf_p3))
    (local.set $erf_p2 (global.get $erf_p2))
    (local.set $erf_p1 (global.get $erf_p1))
    (local.set $erf_p0 (global.get $erf_p0))
    (local.set $one (global.get $one))
    (local.set $half (global.get $half))
    (local.set $erfc_q7 (global.get $erfc_q7))
    (local.set $erfc_q6 (global.get $erfc_q6))
    (local.set $erfc_q5 (global.get $erfc_q5))
    (local.set $erfc_q4 (global.get $erfc_q4))
    (local.set $erfc_q3 (global.get $erfc_q3))
    (local.set $erfc_q2 (global.get $erfc_q2))
    (local.set $erfc_q1 (global.get $erfc_q1))
    (local.set $erfc_q0 (global.get $erfc_q0))
    (local.set $six (global.get $six))
    (local.set $two (global.get $two))
    (local.set $zero (global.get $zero))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $block_end (i32.add (local.get $src) (i32.const 1024)))
        (local.set $block_end (select (local.get $end) (local.get $block_end)
          (i32.lt_u (local.get $end) (local.get $block_end))))
        (local.set $at (local.get $src))
        (local.set $out (local.get $dst))
        (loop $squares
          (local.set $u (f32x4.mul (v128.load (local.get $at)) (local.get $sqrt_half)))
          (v128.store (local.get $out) (f32x4.neg (f32x4.mul (local.get $u) (local.get $u))))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (br_if $squares (i32.lt_u (local.get $at) (local.get $block_end))))
        (drop (call $expShifted (local.get $dst) (local.get $dst)
          (i32.shr_u (i32.sub (local.get $block_end) (local.get $src)) (i32.const 2)) (f32.const 0)))
        (loop $finish
          (local.set $x (v128.load (local.get $src)))
          (local.set $u (f32x4.mul (local.get $x) (local.get $sqrt_half)))
          (local.set $a (f32x4.abs (local.get $u)))
          (local.set $z (f32x4.mul (local.get $u) (local.get $u)))
          (local.set $p (local.get $erf_p5))
          (local.set $p (f32x4.add (local.get $erf_p4) (f32x4.mul (local.get $z) (local.get $p))))
          (local.set $p (f32x4.add (local.get $erf_p3) (f32x4.mul (local.get $z) (local.get $p))))
          (local.set $p (f32x4.add (local.get $erf_p2) (f32x4.mul (local.get $z) (local.get $p))))
          (local.set $p (f32x4.add (local.get $erf_p1) (f32x4.mul (local.get $z) (local.get $p))))
          (local.set $p (f32x4.add (local.get $erf_p0) (f32x4.mul (local.get $z) (local.get $p))))
          (local.set $t (f32x4.div (local.get $one)
            (f32x4.add (local.get $one) (f32x4.mul (local.get $a) (local.get $half)))))
          (local.set $q (local.get $erfc_q7))
          (local.set $q (f32x4.add (local.get $erfc_q6) (f32x4.mul (local.get $t) (local.get $q))))
          (local.set $q (f32x4.add (local.get $erfc_q5) (f32x4.mul (local.get $t) (local.get $q))))
          (local.set $q (f32x4.add (local.get $erfc_q4) (f32x4.mul (local.get $t) (local.get $q))))
          (local.set $q (f32x4.add (local.get $erfc_q3) (f32x4.mul (local.get $t) (local.get $q))))
          (local.set $q (f32x4.add (local.get $erfc_q2) (f32x4.mul (local.get $t) (local.get $q))))
          (local.set $q (f32x4.add (local.get $erfc_q1) (f32x4.mul (local.get $t) (local.get $q))))
          (local.set $q (f32x4.add (local.get $erfc_q0) (f32x4.mul (local.get $t) (local.get $q))))
          ;; e^(−u²) from dst.
          (local.set $e (v128.and (f32x4.mul (v128.load (local.get $dst)) (local.get $q))
            (f32x4.lt (local.get $a) (local.get $six))))
          (local.set $e (v128.bitselect (f32x4.sub (local.get $two) (local.get $e)) (local.get $e)
            (f32x4.ge (local.get $u) (local.get $zero))))
          (local.set $e (v128.bitselect (f32x4.add (local.get $one) (f32x4.mul (local.get $u) (local.get $p)))
            (local.get $e) (f32x4.lt (local.get $a) (local.get $one))))
          (v128.store (local.get $dst) (f32x4.mul (f32x4.mul (local.get $x) (local.get $half)) (local.get $e)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (br_if $finish (i32.lt_u (local.get $src) (local.get $block_end))))
        (br $blocks))))

  ;; e^(src − shift) of `count` floats (whole vectors) to dst (which may be src), returning their
  ;; sum (the vectors summed in order, then the lanes as $sum does). Each x = src − shift ≤ 0 is
  ;; k·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two so k·ln 2 is exact), e^r by its Taylor
  ;; series to r⁷/7! (the rest is under 1e-8 relative), times 2^k built in the exponent bits.
  ;; Below −87.3, where e^x leaves float32's normal range, the result is 0: subnormal
  ;; probabilities would only slow the products that read them (a masked score of −1e4 gives
  ;; 0, as in JavaScript). One loop over every vector keeps its constants out of the loop.
  (func $expShifted (param $src i32) (param $dst i32) (param $count i32) (param $shift f32)
    (result f32)
    (local $end i32) (local $m v128) (local $s v128) (local $x v128)
    (local $k v128) (local $r v128) (local $p v128) (local $under v128)
    (local $exp_floor v128) (local $log2_e v128) (local $ln2_high v128) (local $ln2_low v128)
    (local $taylor6 v128) (local $taylor7 v128) (local $taylor5 v128) (local $taylor4 v128)
    (local $taylor3 v128) (local $half v128) (local $one v128) (local $exponent_bias v128)
    (local.set $exp_floor (global.get $exp_floor))
    (local.set $log2_e (global.get $log2_e))
    (local.set $ln2_high (global.get $ln2_high))
    (local.set $ln2_low (global.get $ln2_low))
    (local.set $taylor6 (global.get $taylor6))
    (local.set $taylor7 (global.get $taylor7))
    (local.set $taylor5 (global.get $taylor5))
    (local.set $taylor4 (global.get $taylor4))
    (local.set $taylor3 (global.get $taylor3))
    (local.set $half (global.get $half))
    (local.set $one (global.get $one))
    (local.set $exponent_bias (global.get $exponent_bias))
    (local.set $m (f32x4.splat (local.get $shift)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (f32x4.sub (v128.load (local.get $src)) (local.get $m)))
        (local.set $under (f32x4.lt (local.get $x) (local.get $exp_floor)))
        (local.set $x (f32x4.pmax (local.get $x) (local.get $exp_floor)))
        (local.set $k (f32x4.nearest (f32x4.mul (local.get $x) (local.get $log2_e))))
        (local.set $r (f32x4.sub (f32x4.sub (local.get $x)
            (f32x4.mul (local.get $k) (local.get $ln2_high)))
          (f32x4.mul (local.get $k) (local.get $ln2_low))))
        (local.set $p (f32x4.add (local.get $taylor6)
          (f32x4.mul (local.get $r) (local.get $taylor7))))
        (local.set $p (f32x4.add (local.get $taylor5) (f32x4.mul (local.get $r) (local.get $p))))
        (local.set $p (f32x4.add (local.get $taylor4) (f32x4.mul (local.get $r) (local.get $p))))
        (local.set $p (f32x4.add (local.get $taylor3) (f32x4.mul (local.get $r) (local.get $p))))
        (local.set $p (f32x4.add (local.get $half) (f32x4.mul (local.get $r) (local.get $p))))
        (local.set $p (f32x4.add (local.get $one) (f32x4.mul (local.get $r) (local.get $p))))
        (local.set $p (f32x4.add (local.get $one) (f32x4.mul (local.get $r) (local.get $p))))
        (local.set $x (v128.andnot
          (f32x4.mul (local.get $p)
            (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (local.get $exponent_bias)) (i32.const 23)))
          (local.get $under)))
        (v128.store (local.get $dst) (local.get $x))
        (local.set $s (f32x4.add (local.get $s) (local.get $x)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next)))
    (call $sum (local.get $s)))

  ;; The sum of a vector's four lanes.
  (func $sum (param $v v128) (result f32)
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; softmax over each of `rows` rows of n floats (n a multiple of 4) at src, to dst.
  (func (export "softmaxRows") (param $src i32) (param $dst i32) (param $rows i32) (param $n i32)
    (local $end i32) (local $at i32) (local $out i32) (local $m v128) (local $s v128)
    (local $max f32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next_row
        (br_if $done (i32.eqz (local.get $rows)))
        (local.set $end (i32.add (local.get $src) (local.get $bytes)))
        (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $at (local.get $src))
        (loop $maxima
          (local.set $m (f32x4.max (local.get $m) (v128.load (local.get $at))))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (br_if $maxima (i32.lt_u (local.get $at) (local.get $end))))
        (local.set $max (f32.max (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
          (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
        (local.set $s (f32x4.splat
          (call $expShifted (local.get $src) (local.get $dst) (local.get $n) (local.get $max))))
        (local.set $out (local.get $dst))
        (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
        (loop $divide
          (v128.store (local.get $out) (f32x4.div (v128.load (local.get $out)) (local.get $s)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (br_if $divide (i32.lt_u (local.get $out) (local.get $end))))
        (local.set $src (i32.add (local.get $src) (local.get $bytes)))
        (local.set $dst (i32.add (local.get $dst) (local.get $bytes)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $next_row))))

  ;; The sum of each of `rows` rows of n floats at src (n ≥ 1), or their mean ($mean set), to
  ;; dst (one float per row): each row summed in order in f64 and divided in f64, then rounded
  ;; once, as a JavaScript loop over the floats computes it. Four rows at a time: four
  ;; independent chains of additions.
  (func (export "rowSums") (param $src i32) (param $dst i32) (param $rows i32) (param $n i32)
    (param $mean i32)
    (local $bytes i32) (local $at i32) (local $end i32)
    (local $a0 f64) (local $a1 f64) (local $a2 f64) (local $a3 f64)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (block $fours_done
      (loop $fours
        (br_if $fours_done (i32.lt_u (local.get $rows) (i32.const 4)))
        (local.set $a0 (f64.const 0))
        (local.set $a1 (f64.const 0))
        (local.set $a2 (f64.const 0))
        (local.set $a3 (f64.const 0))
        (local.set $at (local.get $src))
        (local.set $end (i32.add (local.get $src) (local.get $bytes)))
        (loop $each
          (local.set $a0 (f64.add (local.get $a0) (f64.promote_f32 (f32.load (local.get $at)))))
          (local.set $a1 (f64.add (local.get $a1)
            (f64.promote_f32 (f32.load (i32.add (local.get $at) (local.get $bytes))))))
          (local.set $a2 (f64.add (local.get $a2)
            (f64.promote_f32 (f32.load (i32.add (local.get $at) (i32.shl (local.get $bytes) (i32.const 1)))))))
          (local.set $a3 (f64.add (local.get $a3)
            (f64.promote_f32 (f32.load (i32.add (local.get $at) (i32.mul (local.get $bytes) (i32.const 3)))))))
          (local.set $at (i32.add (local.get $at) (i32.const 4)))
          (br_if $each (i32.lt_u (local.get $at) (local.get $end))))
        (if (local.get $mean)
          (then
            (local.set $a0 (f64.div (local.get $a0) (f64.convert_i32_u (local.get $n))))
            (local.set $a1 (f64.div (local.get $a1) (f64.convert_i32_u (local.get $n))))
            (local.set $a2 (f64.div (local.get $a2) (f64.convert_i32_u (local.get $n))))
            (local.set $a3 (f64.div (local.get $a3) (f64.convert_i32_u (local.get $n))))))
        (f32.store (local.get $dst) (f32.demote_f64 (local.get $a0)))
        (f32.store offset=4 (local.get $dst) (f32.demote_f64 (local.get $a1)))
        (f32.store offset=8 (local.get $dst) (f32.demote_f64 (local.get $a2)))
        (f32.store offset=12 (local.get $dst) (f32.demote_f64 (local.get $a3)))
        (local.set $src (i32.add (local.get $src) (i32.shl (local.get $bytes) (i32.const 2))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 4)))
        (br $fours)))
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $rows)))
        (local.set $a0 (f64.const 0))
        (local.set $at (local.get $src))
        (local.set $end (i32.add (local.get $src) (local.get $bytes)))
        (loop $each
          (local.set $a0 (f64.add (local.get $a0) (f64.promote_f32 (f32.load (local.get $at)))))
          (local.set $at (i32.add (local.get $at) (i32.const 4)))
          (br_if $each (i32.lt_u (local.get $at) (local.get $end))))
        (if (local.get $mean)
          (then (local.set $a0 (f64.div (local.get $a0) (f64.convert_i32_u (local.get $n))))))
        (f32.store (local.get $dst) (f32.demote_f64 (local.get $a0)))
        (local.set $src (i32.add (local.get $src) (local.get $bytes)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; Layer norm over each of `rows` rows of n floats (n a multiple of 4) at src, to dst:
  ;; (x − mean)/√(variance + eps)·gamma + beta, gamma and beta per element of a row (at 0: 1
  ;; and 0).
  (func (export "layerNormRows")
    (param $src i32) (param $dst i32) (param $rows i32) (param $n i32) (param $gamma i32)
    (param $beta i32) (param $eps f32)
    (local $end i32) (local $at i32) (local $out i32) (local $j i32) (local $acc v128) (local $d v128)
    (local $mean v128) (local $inv v128) (local $bytes i32) (local $x v128)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next_row
        (br_if $done (i32.eqz (local.get $rows)))
        (local.set $end (i32.add (local.get $src) (local.get $bytes)))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $at (local.get $src))
        (loop $sums
          (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $at))))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (br_if $sums (i32.lt_u (local.get $at) (local.get $end))))
        (local.set $mean (f32x4.splat (f32.div (call $sum (local.get $acc)) (f32.convert_i32_u (local.get $n)))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $at (local.get $src))
        (loop $squares
          (local.set $d (f32x4.sub (v128.load (local.get $at)) (local.get $mean)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $d) (local.get $d))))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (br_if $squares (i32.lt_u (local.get $at) (local.get $end))))
        (local.set $inv (f32x4.splat (f32.div (f32.const 1) (f32.sqrt (f32.add
          (f32.div (call $sum (local.get $acc)) (f32.convert_i32_u (local.get $n))) (local.get $eps))))))
        (local.set $at (local.get $src))
        (local.set $out (local.get $dst))
        (local.set $j (i32.const 0))
        (loop $scale
          (local.set $x (f32x4.mul (f32x4.sub (v128.load (local.get $at)) (local.get $mean)) (local.get $inv)))
          (if (local.get $gamma)
            (then (local.set $x (f32x4.mul (local.get $x) (v128.load (i32.add (local.get $gamma) (local.get $j)))))))
          (if (local.get $beta)
            (then (local.set $x (f32x4.add (local.get $x) (v128.load (i32.add (local.get $beta) (local.get $j)))))))
          (v128.store (local.get $out) (local.get $x))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $scale (i32.lt_u (local.get $at) (local.get $end))))
        (local.set $src (i32.add (local.get $src) (local.get $bytes)))
        (local.set $dst (i32.add (local.get $dst) (local.get $bytes)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $next_row))))

  ;; cond ? a : b of `count` floats (cond, a and b each `*_length` floats repeating, as in
  ;; arithmetic above) to dst: a where cond is not 0 (NaN included, −0 excluded), as the select
  ;; op compares.
  (func (export "select")
    (param $cond i32) (param $c_length i32) (param $a i32) (param $a_length i32) (param $b i32)
    (param $b_length i32) (param $dst i32) (param $count i32)
    (local $end i32) (local $ic i32) (local $ia i32) (local $ib i32) (local $cb i32) (local $ab i32)
    (local $bb i32) (local $c v128) (local $x v128) (local $y v128)
    (local.set $cb (i32.shl (local.get $c_length) (i32.const 2)))
    (local.set $ab (i32.shl (local.get $a_length) (i32.const 2)))
    (local.set $bb (i32.shl (local.get $b_length) (i32.const 2)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $c (if (result v128) (i32.eq (local.get $c_length) (i32.const 1))
          (then (v128.load32_splat (local.get $cond)))
          (else (v128.load (i32.add (local.get $cond) (local.get $ic))))))
        (local.set $x (if (result v128) (i32.eq (local.get $a_length) (i32.const 1))
          (then (v128.load32_splat (local.get $a)))
          (else (v128.load (i32.add (local.get $a) (local.get $ia))))))
        (local.set $y (if (result v128) (i32.eq (local.get $b_length) (i32.const 1))
          (then (v128.load32_splat (local.get $b)))
          (else (v128.load (i32.add (local.get $b) (local.get $ib))))))
        (v128.store (local.get $dst) (v128.bitselect (local.get $x) (local.get $y)
          (f32x4.ne (local.get $c) (v128.const f32x4 0 0 0 0))))
        (local.set $ic (i32.add (local.get $ic) (i32.const 16)))
        (if (i32.ge_u (local.get $ic) (local.get $cb)) (then (local.set $ic (i32.const 0))))
        (local.set $ia (i32.add (local.get $ia) (i32.const 16)))
        (if (i32.ge_u (local.get $ia) (local.get $ab)) (then (local.set $ia (i32.const 0))))
        (local.set $ib (i32.add (local.get $ib) (i32.const 16)))
        (if (i32.ge_u (local.get $ib) (local.get $bb)) (then (local.set $ib (i32.const 0))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; Rows of `inner` floats read from src (element j of a row at j·step bytes) written one
  ;; after the other at dst; the rows start at the offsets an odometer over `rank` outer axes
  ;; gives: at axes, `rank` pairs of (size, stride in bytes), and room for `rank` counters.
  ;; Contiguous rows (step 4) are copied by vectors, then floats.
  (func (export "gatherRows")
    (param $src i32) (param $dst i32) (param $inner i32) (param $step i32) (param $axes i32)
    (param $rank i32) (param $rows i32)
    (local $at i32) (local $end i32) (local $d i32) (local $counter i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $inner) (i32.const 2)))
    ;; Counters after the pairs, all zero.
    (local.set $d (i32.const 0))
    (block $zeroed
      (loop $zero
        (br_if $zeroed (i32.ge_u (local.get $d) (local.get $rank)))
        (i32.store (i32.add (local.get $axes) (i32.shl (i32.add (i32.shl (local.get $rank) (i32.const 1)) (local.get $d)) (i32.const 2))) (i32.const 0))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br $zero)))
    (block $done
      (loop $next_row
        (br_if $done (i32.eqz (local.get $rows)))
        (local.set $at (local.get $src))
        (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
        (if (i32.eq (local.get $step) (i32.const 4))
          (then
            (block $vectors_done
              (loop $vectors
                (br_if $vectors_done (i32.gt_u (i32.add (local.get $dst) (i32.const 16)) (local.get $end)))
                (v128.store (local.get $dst) (v128.load (local.get $at)))
                (local.set $at (i32.add (local.get $at) (i32.const 16)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
                (br $vectors)))))
        (block $floats_done
          (loop $floats
            (br_if $floats_done (i32.ge_u (local.get $dst) (local.get $end)))
            (f32.store (local.get $dst) (f32.load (local.get $at)))
            (local.set $at (i32.add (local.get $at) (local.get $step)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
            (br $floats)))
        ;; The next row: the last axis counts up, carrying into the ones before it.
        (local.set $d (local.get $rank))
        (block $carried
          (loop $carry
            (br_if $carried (i32.eqz (local.get $d)))
            (local.set $d (i32.sub (local.get $d) (i32.const 1)))
            (local.set $counter (i32.add (local.get $axes)
              (i32.shl (i32.add (i32.shl (local.get $rank) (i32.const 1)) (local.get $d)) (i32.const 2))))
            (i32.store (local.get $counter) (i32.add (i32.load (local.get $counter)) (i32.const 1)))
            ;; src += stride of axis d
            (local.set $src (i32.add (local.get $src)
              (i32.load offset=4 (i32.add (local.get $axes) (i32.shl (local.get $d) (i32.const 3))))))
            (br_if $carried (i32.lt_u (i32.load (local.get $counter))
              (i32.load (i32.add (local.get $axes) (i32.shl (local.get $d) (i32.const 3))))))
            (local.set $src (i32.sub (local.get $src)
              (i32.mul (i32.load offset=4 (i32.add (local.get $axes) (i32.shl (local.get $d) (i32.const 3))))
                (i32.load (i32.add (local.get $axes) (i32.shl (local.get $d) (i32.const 3)))))))
            (i32.store (local.get $counter) (i32.const 0))
            (br $carry)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $next_row))))
)
