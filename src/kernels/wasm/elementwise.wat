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

  ;; x op y (op 0 add, 1 sub, 2 mul, 3 div) of `count` floats: x at $x (x_length floats
  ;; repeating), y at $y (y_length repeating), to dst; each length is the count, 1, or a
  ;; multiple of 4 that divides it. float32 arithmetic gives JavaScript's bits: a double result
  ;; rounded to float32 is the float32 result for these operations.
  (func (export "arithmetic")
    (param $x i32) (param $x_length i32) (param $y i32) (param $y_length i32) (param $dst i32)
    (param $count i32) (param $op i32)
    (local $i i32) (local $ix i32) (local $iy i32) (local $a v128) (local $b v128) (local $r v128)
    (local $xb i32) (local $yb i32)
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

  ;; The exact GELU, x·(1 + erf(x/√2))/2, with erf from the table at $table (five float64 per
  ;; grid point, see tabulatedErf in ../ops/elementwise.ts): the same float64 operations in
  ;; the same order, one element at a time.
  (func (export "gelu") (param $src i32) (param $dst i32) (param $count i32) (param $table i32)
    (local $end i32) (local $v f64) (local $u f64) (local $ax f64) (local $e f64) (local $d f64)
    (local $k i32) (local $at i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $v (f64.promote_f32 (f32.load (local.get $src))))
        (local.set $u (f64.mul (local.get $v) (f64.const 0x1.6a09e667f3bcdp-1)))
        (local.set $ax (f64.abs (local.get $u)))
        (if (f64.lt (local.get $ax) (f64.const 6))
          (then
            (local.set $k (i32.trunc_f64_u (f64.add (f64.mul (local.get $ax) (f64.const 64)) (f64.const 0.5))))
            (local.set $d (f64.sub (local.get $ax) (f64.div (f64.convert_i32_u (local.get $k)) (f64.const 64))))
            (local.set $at (i32.add (local.get $table) (i32.mul (local.get $k) (i32.const 40))))
            (local.set $e (f64.add (f64.load (local.get $at))
              (f64.mul (f64.mul (f64.load offset=8 (local.get $at)) (local.get $d))
                (f64.add (f64.const 1) (f64.mul (local.get $d)
                  (f64.add (f64.load offset=16 (local.get $at)) (f64.mul (local.get $d)
                    (f64.add (f64.load offset=24 (local.get $at))
                      (f64.mul (local.get $d) (f64.load offset=32 (local.get $at)))))))))))
            (if (f64.lt (local.get $u) (f64.const 0)) (then (local.set $e (f64.neg (local.get $e))))))
          (else
            ;; ±1 beyond the table; NaN stays NaN.
            (local.set $e (select (f64.copysign (f64.const 1) (local.get $u)) (local.get $u)
              (f64.ge (local.get $ax) (f64.const 6))))))
        (f32.store (local.get $dst)
          (f32.demote_f64 (f64.mul (f64.mul (f64.const 0.5) (local.get $v)) (f64.add (f64.const 1) (local.get $e)))))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (br $next))))

;; e^x for x ≤ 0 (softmax's shifted inputs), four at a time: x = k·ln 2 + r with |r| ≤ ln 2 / 2
  ;; (ln 2 split in two so k·ln 2 is exact), e^r by its Taylor series to r⁷/7! (the rest is
  ;; under 1e-8 relative), times 2^k built in the exponent bits. Below −87.3, where e^x leaves
  ;; float32's normal range, the result is 0: subnormal probabilities would only slow the
  ;; products that read them (a masked score of −1e4 gives 0, as in JavaScript).
  (func $exp (param $x v128) (result v128)
    (local $k v128) (local $r v128) (local $p v128) (local $under v128)
    (local.set $under (f32x4.lt (local.get $x) (v128.const f32x4 -87.3 -87.3 -87.3 -87.3)))
    (local.set $x (f32x4.pmax (local.get $x) (v128.const f32x4 -87.3 -87.3 -87.3 -87.3)))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $x)
        (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
      (f32x4.mul (local.get $k) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $p (f32x4.add (v128.const f32x4 1.38888889e-3 1.38888889e-3 1.38888889e-3 1.38888889e-3)
      (f32x4.mul (local.get $r) (v128.const f32x4 1.98412698e-4 1.98412698e-4 1.98412698e-4 1.98412698e-4))))
    (local.set $p (f32x4.add (v128.const f32x4 8.33333333e-3 8.33333333e-3 8.33333333e-3 8.33333333e-3) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (v128.const f32x4 4.16666667e-2 4.16666667e-2 4.16666667e-2 4.16666667e-2) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (v128.const f32x4 0.166666667 0.166666667 0.166666667 0.166666667) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (v128.const f32x4 0.5 0.5 0.5 0.5) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $r) (local.get $p))))
    (v128.andnot
      (f32x4.mul (local.get $p)
        (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127)) (i32.const 23)))
      (local.get $under)))

  ;; The sum of a vector's four lanes.
  (func $sum (param $v v128) (result f32)
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; softmax over each of `rows` rows of n floats (n a multiple of 4) at src, to dst.
  (func (export "softmaxRows") (param $src i32) (param $dst i32) (param $rows i32) (param $n i32)
    (local $end i32) (local $at i32) (local $out i32) (local $m v128) (local $s v128) (local $e v128)
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
        (local.set $m (f32x4.splat (local.get $max)))
        (local.set $s (v128.const f32x4 0 0 0 0))
        (local.set $at (local.get $src))
        (local.set $out (local.get $dst))
        (loop $exponentials
          (local.set $e (call $exp (f32x4.sub (v128.load (local.get $at)) (local.get $m))))
          (v128.store (local.get $out) (local.get $e))
          (local.set $s (f32x4.add (local.get $s) (local.get $e)))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (br_if $exponentials (i32.lt_u (local.get $at) (local.get $end))))
        (local.set $s (f32x4.splat (call $sum (local.get $s))))
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
)
