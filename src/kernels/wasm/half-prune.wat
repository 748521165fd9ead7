;; SIMD kernel for magnitude pruning of fp16 weights, called by ../prune-simd.ts (the rules are
;; pruneHalvesByMagnitude's in ../prune.ts). Eight halves at a time: one mask byte, and the kept
;; values moved to the front of a vector by a shuffle chosen by that byte. Assembled by
;; `npm run gen:wasm`.
(module
  (memory (export "memory") 1)

  ;; At `table` (16 bytes per mask byte m): the byte shuffle that gathers the 16-bit lanes set in
  ;; m to the front, in order.
  (func (export "buildTable") (param $table i32)
    (local $m i32) (local $lane i32) (local $out i32) (local $at i32)
    (loop $masks
      (local.set $at (i32.add (local.get $table) (i32.shl (local.get $m) (i32.const 4))))
      (local.set $out (i32.const 0))
      (local.set $lane (i32.const 0))
      (loop $lanes
        (if (i32.and (local.get $m) (i32.shl (i32.const 1) (local.get $lane)))
          (then
            (i32.store8 (i32.add (local.get $at) (local.get $out)) (i32.shl (local.get $lane) (i32.const 1)))
            (i32.store8 (i32.add (local.get $at) (i32.add (local.get $out) (i32.const 1)))
              (i32.add (i32.shl (local.get $lane) (i32.const 1)) (i32.const 1)))
            (local.set $out (i32.add (local.get $out) (i32.const 2)))))
        (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
        (br_if $lanes (i32.lt_u (local.get $lane) (i32.const 8))))
      ;; Unused entries pick byte 0; they land past the kept values and are overwritten.
      (local.set $m (i32.add (local.get $m) (i32.const 1)))
      (br_if $masks (i32.lt_u (local.get $m) (i32.const 256)))))

  ;; Prunes `count` halves at `src` (a multiple of 8): elements whose magnitude pattern is at
  ;; most `limit` (-1: none) are multiplied by zero, so only pruned infinities and NaNs stay, as
  ;; `pruned_nan`; zeros are dropped. Writes a mask byte per 8 elements at `mask` (element i at
  ;; bit i % 8) and the kept values at `kept` (room for `count` + 8 halves); returns how many.
  (func (export "sparsify")
    (param $src i32) (param $count i32) (param $limit i32) (param $pruned_nan i32)
    (param $table i32) (param $mask i32) (param $kept i32) (result i32)
    (local $i i32) (local $found i32) (local $x v128) (local $key v128) (local $unpruned v128)
    (local $keep v128) (local $m i32) (local $limit8 v128) (local $nan8 v128)
    (local.set $limit8 (i16x8.splat (local.get $limit)))
    (local.set $nan8 (i16x8.splat (local.get $pruned_nan)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $x (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))))
        (local.set $key (v128.and (local.get $x) (v128.const i16x8 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff)))
        (local.set $unpruned (i16x8.gt_s (local.get $key) (local.get $limit8)))
        ;; Kept: unpruned non-zeros, and pruned infinities and NaNs (magnitude >= 0x7c00).
        (local.set $keep
          (v128.or
            (v128.and (local.get $unpruned)
              (v128.not (i16x8.eq (local.get $key) (v128.const i16x8 0 0 0 0 0 0 0 0))))
            (v128.andnot
              (i16x8.gt_s (local.get $key) (v128.const i16x8 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff))
              (local.get $unpruned))))
        (local.set $m (i8x16.bitmask (i8x16.narrow_i16x8_s (local.get $keep) (local.get $keep))))
        (local.set $m (i32.and (local.get $m) (i32.const 0xff)))
        (i32.store8 (i32.add (local.get $mask) (i32.shr_u (local.get $i) (i32.const 3))) (local.get $m))
        (v128.store (i32.add (local.get $kept) (i32.shl (local.get $found) (i32.const 1)))
          (i8x16.swizzle
            (v128.bitselect (local.get $x) (local.get $nan8) (local.get $unpruned))
            (v128.load (i32.add (local.get $table) (i32.shl (local.get $m) (i32.const 4))))))
        (local.set $found (i32.add (local.get $found) (i32.popcnt (local.get $m))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (local.get $found))
)
