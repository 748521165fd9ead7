;; SIMD kernels for linear quantization of fp16 weights, called by ../linear-quantize-simd.ts
;; (the numerics are defined in ../linear-quantize.ts; this takes its fast path, 8 halves at a
;; time). A tensor is passed as runs: `runs` × `run_length` consecutive halves (run_length a
;; multiple of 8), run r belonging to block run_blocks[r]. Assembled by `npm run gen:wasm`.
(module
  (memory (export "memory") 1)

  ;; Sums of v² and of squared errors of the lanes `quantize` rounded (f64x2 accumulators).
  (global $signal (export "signal") (mut f64) (f64.const 0))
  (global $noise (export "noise") (mut f64) (f64.const 0))

  ;; Per block, at `out` (2 × i32): the largest pattern read as int16 and read as uint16, folded
  ;; into what is there.
  (func (export "ranges")
    (param $src i32) (param $runs i32) (param $run_length i32) (param $run_blocks i32)
    (param $out i32)
    (local $r i32) (local $at i32) (local $end i32) (local $x v128) (local $slot i32)
    (local $signed v128) (local $unsigned v128)
    (local.set $at (local.get $src))
    (block $runs_done
      (loop $next_run
        (br_if $runs_done (i32.ge_u (local.get $r) (local.get $runs)))
        (local.set $slot
          (i32.add (local.get $out)
            (i32.shl (i32.load (i32.add (local.get $run_blocks) (i32.shl (local.get $r) (i32.const 2))))
              (i32.const 3))))
        (local.set $signed (i16x8.splat (i32.load (local.get $slot))))
        (local.set $unsigned (i16x8.splat (i32.load offset=4 (local.get $slot))))
        (local.set $end (i32.add (local.get $at) (i32.shl (local.get $run_length) (i32.const 1))))
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
            (local.set $x (v128.load (local.get $at)))
            (local.set $signed (i16x8.max_s (local.get $signed) (local.get $x)))
            (local.set $unsigned (i16x8.max_u (local.get $unsigned) (local.get $x)))
            (local.set $at (i32.add (local.get $at) (i32.const 16)))
            (br $next)))
        ;; Horizontal maxima: fold the upper half of the lanes onto the lower, three times.
        (local.set $signed (i16x8.max_s (local.get $signed)
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $signed) (local.get $signed))))
        (local.set $signed (i16x8.max_s (local.get $signed)
          (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $signed) (local.get $signed))))
        (local.set $signed (i16x8.max_s (local.get $signed)
          (i8x16.shuffle 2 3 0 1 2 3 0 1 2 3 0 1 2 3 0 1 (local.get $signed) (local.get $signed))))
        (local.set $unsigned (i16x8.max_u (local.get $unsigned)
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $unsigned) (local.get $unsigned))))
        (local.set $unsigned (i16x8.max_u (local.get $unsigned)
          (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $unsigned) (local.get $unsigned))))
        (local.set $unsigned (i16x8.max_u (local.get $unsigned)
          (i8x16.shuffle 2 3 0 1 2 3 0 1 2 3 0 1 2 3 0 1 (local.get $unsigned) (local.get $unsigned))))
        (i32.store (local.get $slot) (i16x8.extract_lane_s 0 (local.get $signed)))
        (i32.store offset=4 (local.get $slot) (i16x8.extract_lane_u 0 (local.get $unsigned)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $next_run))))

;; Quantizes the runs into bytes at `dst` (the low byte of each clamped integer), with each
  ;; block's parameters at params + 16·block: scale, zero point, offset (f32). Exact as numpy
  ;; for finite halves: the quotient is divided in float32 and rounded to half precision (to 11
  ;; significant bits, ties to even; halves' subnormal range, coarser, rounds to 0 either way),
  ;; then to an integer (ties to even); NaN quotients become 0 as numpy's casts do. Adds to
  ;; $signal and $noise, computed in float32 per element (a report, not part of the result).
  (func (export "quantize")
    (param $src i32) (param $dst i32) (param $runs i32) (param $run_length i32)
    (param $run_blocks i32) (param $params i32) (param $q_min f32) (param $q_max f32)
    (local $r i32) (local $i i32) (local $end i32) (local $block i32)
    (local $x v128) (local $a v128) (local $b v128)
    (local $scale v128) (local $zero_point v128) (local $offset v128)
    (local $q_min4 v128) (local $q_max4 v128)
    (local $v0 v128) (local $v1 v128) (local $q0 v128) (local $q1 v128) (local $e0 v128) (local $e1 v128)
    (local $t v128) (local $squares v128) (local $s0 v128) (local $s1 v128) (local $z0 v128) (local $z1 v128)
    (local.set $q_min4 (f32x4.splat (local.get $q_min)))
    (local.set $q_max4 (f32x4.splat (local.get $q_max)))
    (block $runs_done
      (loop $next_run
        (br_if $runs_done (i32.ge_u (local.get $r) (local.get $runs)))
        (local.set $block
          (i32.add (local.get $params)
            (i32.shl (i32.load (i32.add (local.get $run_blocks) (i32.shl (local.get $r) (i32.const 2))))
              (i32.const 4))))
        (local.set $scale (f32x4.splat (f32.load (local.get $block))))
        (local.set $zero_point (f32x4.splat (f32.load offset=4 (local.get $block))))
        (local.set $offset (f32x4.splat (f32.load offset=8 (local.get $block))))
        (local.set $end (i32.add (local.get $i) (local.get $run_length)))
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
            (local.set $x (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))))
            ;; Decode: the magnitude bits moved into float32 position and scaled by 2^112
            ;; re-bias the exponent (subnormals too, exactly); then the sign.
            (local.set $a (i32x4.extend_low_i16x8_u (local.get $x)))
            (local.set $b (i32x4.extend_high_i16x8_u (local.get $x)))
            (local.set $v0
              (v128.or
                (f32x4.mul
                  (i32x4.shl (v128.and (local.get $a) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13))
                  (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))
                (i32x4.shl (v128.and (local.get $a) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))
            (local.set $v1
              (v128.or
                (f32x4.mul
                  (i32x4.shl (v128.and (local.get $b) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13))
                  (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))
                (i32x4.shl (v128.and (local.get $b) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))
            ;; Quotient in float32, rounded to 11 significant bits, ties to even (add just under
            ;; half the dropped part plus the kept part's lowest bit, then drop it; a carry
            ;; correctly bumps the exponent); then to an integer, zero point, clamp.
            (local.set $t (f32x4.div (local.get $v0) (local.get $scale)))
            (local.set $t
              (v128.and
                (i32x4.add
                  (i32x4.add (local.get $t) (v128.const i32x4 0xfff 0xfff 0xfff 0xfff))
                  (v128.and (i32x4.shr_u (local.get $t) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
                (v128.const i32x4 0xffffe000 0xffffe000 0xffffe000 0xffffe000)))
            (local.set $q0
              (i32x4.trunc_sat_f32x4_s
                (f32x4.min
                  (f32x4.max (f32x4.add (f32x4.nearest (local.get $t)) (local.get $zero_point)) (local.get $q_min4))
                  (local.get $q_max4))))
            (local.set $t (f32x4.div (local.get $v1) (local.get $scale)))
            (local.set $t
              (v128.and
                (i32x4.add
                  (i32x4.add (local.get $t) (v128.const i32x4 0xfff 0xfff 0xfff 0xfff))
                  (v128.and (i32x4.shr_u (local.get $t) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
                (v128.const i32x4 0xffffe000 0xffffe000 0xffffe000 0xffffe000)))
            (local.set $q1
              (i32x4.trunc_sat_f32x4_s
                (f32x4.min
                  (f32x4.max (f32x4.add (f32x4.nearest (local.get $t)) (local.get $zero_point)) (local.get $q_min4))
                  (local.get $q_max4))))
            (v128.store64_lane 0 (i32.add (local.get $dst) (local.get $i))
              (i8x16.shuffle 0 4 8 12 16 20 24 28 0 0 0 0 0 0 0 0 (local.get $q0) (local.get $q1)))
            ;; Reconstruction errors v - (q - offset)·scale.
            (local.set $e0
              (f32x4.sub (local.get $v0)
                (f32x4.mul (f32x4.sub (f32x4.convert_i32x4_s (local.get $q0)) (local.get $offset))
                  (local.get $scale))))
            (local.set $e1
              (f32x4.sub (local.get $v1)
                (f32x4.mul (f32x4.sub (f32x4.convert_i32x4_s (local.get $q1)) (local.get $offset))
                  (local.get $scale))))
            (local.set $squares
              (f32x4.add (f32x4.mul (local.get $v0) (local.get $v0)) (f32x4.mul (local.get $v1) (local.get $v1))))
            (local.set $s0 (f64x2.add (local.get $s0) (f64x2.promote_low_f32x4 (local.get $squares))))
            (local.set $s1 (f64x2.add (local.get $s1) (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $squares) (local.get $squares)))))
            (local.set $squares
              (f32x4.add (f32x4.mul (local.get $e0) (local.get $e0)) (f32x4.mul (local.get $e1) (local.get $e1))))
            (local.set $z0 (f64x2.add (local.get $z0) (f64x2.promote_low_f32x4 (local.get $squares))))
            (local.set $z1 (f64x2.add (local.get $z1) (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $squares) (local.get $squares)))))
            (local.set $i (i32.add (local.get $i) (i32.const 8)))
            (br $next)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $next_run)))
    (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
    (local.set $z0 (f64x2.add (local.get $z0) (local.get $z1)))
    (global.set $signal
      (f64.add (global.get $signal)
        (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0)))))
    (global.set $noise
      (f64.add (global.get $noise)
        (f64.add (f64x2.extract_lane 0 (local.get $z0)) (f64x2.extract_lane 1 (local.get $z0))))))

)
