;; SIMD matrix product over packed panels, called by ../gemm-simd.ts (../ops/matmul.ts holds the
;; plain JavaScript product these are checked against). A is packed in panels of 4 rows (per k,
;; the 4 rows' values), B in panels of 8 columns (per k, the 8 columns' values), both padded with
;; zeros; each 4×8 tile of C is summed in 8 vector registers over the whole of k, then finished
;; in one pass: plus C itself or a bias (per row or per column), clamped, stored. The memory is
;; the caller's (shared between threads where it can be). Assembled by `npm run gen:wasm`.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; How a tile starts, before the clamp: mode 0 from nothing, 1 from C, 2 from a bias per row
  ;; (bias + 4·row), 3 from a bias per column (bias + 4·column).
  (global $mode (mut i32) (i32.const 0))
  (global $bias (mut i32) (i32.const 0))
  (global $lo (mut v128) (v128.const f32x4 0 0 0 0))
  (global $hi (mut v128) (v128.const f32x4 0 0 0 0))
  (global $lo1 (mut f32) (f32.const 0))
  (global $hi1 (mut f32) (f32.const 0))

  ;; Sets what every later tile adds and its clamp.
  (func (export "epilogue") (param $mode i32) (param $bias i32) (param $lo f32) (param $hi f32)
    (global.set $mode (local.get $mode))
    (global.set $bias (local.get $bias))
    (global.set $lo1 (local.get $lo))
    (global.set $hi1 (local.get $hi))
    (global.set $lo (f32x4.splat (local.get $lo)))
    (global.set $hi (f32x4.splat (local.get $hi))))

  ;; Finishes a partial tile (rows × cols of its 4 × 8) from the sums stored at $sums.
  (func $finish_partial (param $c i32) (param $ldc i32) (param $row i32) (param $col i32)
    (param $rows i32) (param $cols i32) (param $sums i32)
    (local $r i32) (local $j i32) (local $at i32) (local $start f32)
    (loop $each_row
      (local.set $j (i32.const 0))
      (loop $each_col
        (local.set $at (i32.add (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc)))
          (i32.shl (local.get $j) (i32.const 2))))
        (local.set $start (f32.const 0))
        (if (i32.eq (global.get $mode) (i32.const 1))
          (then (local.set $start (f32.load (local.get $at)))))
        (if (i32.eq (global.get $mode) (i32.const 2))
          (then (local.set $start (f32.load (i32.add (global.get $bias)
            (i32.shl (i32.add (local.get $row) (local.get $r)) (i32.const 2)))))))
        (if (i32.eq (global.get $mode) (i32.const 3))
          (then (local.set $start (f32.load (i32.add (global.get $bias)
            (i32.shl (i32.add (local.get $col) (local.get $j)) (i32.const 2)))))))
        (f32.store (local.get $at)
          (f32.min (f32.max
            (f32.add (local.get $start) (f32.load (i32.add (local.get $sums)
              (i32.shl (i32.add (i32.shl (local.get $r) (i32.const 3)) (local.get $j)) (i32.const 2)))))
            (global.get $lo1)) (global.get $hi1)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $each_col (i32.lt_u (local.get $j) (local.get $cols))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $each_row (i32.lt_u (local.get $r) (local.get $rows)))))

  ;; C[rows, cols] (row stride ldc bytes; C at its row `row0`, column `col0`) from the packed A
  ;; panels at $a (k·16 bytes each, ceil(rows / 4) of them) times the packed B panels at $b
  ;; (k·32 bytes each, ceil(cols / 8)). Row panel by row panel, each against every column
  ;; panel: the A panel stays in the nearest cache, the B panels (a chunk's, sized for it) in
  ;; the next, and C is written along its rows. $scratch: 128 bytes for partial tiles.
  (func (export "gemm")
    (param $a i32) (param $b i32) (param $k i32) (param $rows i32) (param $cols i32)
    (param $c i32) (param $ldc i32) (param $row0 i32) (param $col0 i32) (param $scratch i32)
    (local $i i32) (local $j i32) (local $ap i32) (local $bp i32) (local $n i32) (local $ct i32)
    (local $b0 v128) (local $b1 v128) (local $x v128) (local $lo v128) (local $hi v128)
    (local $s0 v128) (local $s1 v128) (local $bias_row i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $lo (global.get $lo))
    (local.set $hi (global.get $hi))
    (loop $row_panels
      (local.set $j (i32.const 0))
      (loop $column_panels
        ;; A bias per column (zeros for none).
        (local.set $s0 (v128.const f32x4 0 0 0 0))
        (local.set $s1 (v128.const f32x4 0 0 0 0))
        (if (i32.and (i32.eq (global.get $mode) (i32.const 3))
                     (i32.le_u (i32.add (local.get $j) (i32.const 8)) (local.get $cols)))
          (then
            (local.set $bias_row (i32.add (global.get $bias) (i32.shl (i32.add (local.get $col0) (local.get $j)) (i32.const 2))))
            (local.set $s0 (v128.load (local.get $bias_row)))
            (local.set $s1 (v128.load offset=16 (local.get $bias_row)))))
        (local.set $ap (i32.add (local.get $a) (i32.mul (i32.shr_u (local.get $i) (i32.const 2))
          (i32.shl (local.get $k) (i32.const 4)))))
        (local.set $bp (i32.add (local.get $b) (i32.mul (i32.shr_u (local.get $j) (i32.const 3))
          (i32.shl (local.get $k) (i32.const 5)))))
        (local.set $c00 (v128.const f32x4 0 0 0 0))
        (local.set $c01 (v128.const f32x4 0 0 0 0))
        (local.set $c10 (v128.const f32x4 0 0 0 0))
        (local.set $c11 (v128.const f32x4 0 0 0 0))
        (local.set $c20 (v128.const f32x4 0 0 0 0))
        (local.set $c21 (v128.const f32x4 0 0 0 0))
        (local.set $c30 (v128.const f32x4 0 0 0 0))
        (local.set $c31 (v128.const f32x4 0 0 0 0))
        (local.set $n (local.get $k))
        (loop $depth
          (local.set $b0 (v128.load (local.get $bp)))
          (local.set $b1 (v128.load offset=16 (local.get $bp)))
          (local.set $x (v128.load32_splat (local.get $ap)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (v128.load32_splat offset=4 (local.get $ap)))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (v128.load32_splat offset=8 (local.get $ap)))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (v128.load32_splat offset=12 (local.get $ap)))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
          (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $depth (local.get $n)))
        (local.set $ct (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc)))
          (i32.shl (local.get $j) (i32.const 2))))
        (if (i32.and (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $rows))
                     (i32.le_u (i32.add (local.get $j) (i32.const 8)) (local.get $cols)))
          (then
            ;; The tile's start: C itself, a bias per row, or the column vectors (zeros, or a
            ;; bias per column); added to the sums, clamped and stored row by row.
            (block $started
              (if (i32.eq (global.get $mode) (i32.const 1))
                (then
                  (local.set $bias_row (local.get $ct))
                  (local.set $c00 (f32x4.add (v128.load (local.get $bias_row)) (local.get $c00)))
                  (local.set $c01 (f32x4.add (v128.load offset=16 (local.get $bias_row)) (local.get $c01)))
                  (local.set $bias_row (i32.add (local.get $bias_row) (local.get $ldc)))
                  (local.set $c10 (f32x4.add (v128.load (local.get $bias_row)) (local.get $c10)))
                  (local.set $c11 (f32x4.add (v128.load offset=16 (local.get $bias_row)) (local.get $c11)))
                  (local.set $bias_row (i32.add (local.get $bias_row) (local.get $ldc)))
                  (local.set $c20 (f32x4.add (v128.load (local.get $bias_row)) (local.get $c20)))
                  (local.set $c21 (f32x4.add (v128.load offset=16 (local.get $bias_row)) (local.get $c21)))
                  (local.set $bias_row (i32.add (local.get $bias_row) (local.get $ldc)))
                  (local.set $c30 (f32x4.add (v128.load (local.get $bias_row)) (local.get $c30)))
                  (local.set $c31 (f32x4.add (v128.load offset=16 (local.get $bias_row)) (local.get $c31)))
                  (br $started)))
              (if (i32.eq (global.get $mode) (i32.const 2))
                (then
                  (local.set $bias_row (i32.add (global.get $bias)
                    (i32.shl (i32.add (local.get $row0) (local.get $i)) (i32.const 2))))
                  (local.set $x (v128.load32_splat (local.get $bias_row)))
                  (local.set $c00 (f32x4.add (local.get $x) (local.get $c00)))
                  (local.set $c01 (f32x4.add (local.get $x) (local.get $c01)))
                  (local.set $x (v128.load32_splat offset=4 (local.get $bias_row)))
                  (local.set $c10 (f32x4.add (local.get $x) (local.get $c10)))
                  (local.set $c11 (f32x4.add (local.get $x) (local.get $c11)))
                  (local.set $x (v128.load32_splat offset=8 (local.get $bias_row)))
                  (local.set $c20 (f32x4.add (local.get $x) (local.get $c20)))
                  (local.set $c21 (f32x4.add (local.get $x) (local.get $c21)))
                  (local.set $x (v128.load32_splat offset=12 (local.get $bias_row)))
                  (local.set $c30 (f32x4.add (local.get $x) (local.get $c30)))
                  (local.set $c31 (f32x4.add (local.get $x) (local.get $c31)))
                  (br $started)))
              (local.set $c00 (f32x4.add (local.get $s0) (local.get $c00)))
              (local.set $c01 (f32x4.add (local.get $s1) (local.get $c01)))
              (local.set $c10 (f32x4.add (local.get $s0) (local.get $c10)))
              (local.set $c11 (f32x4.add (local.get $s1) (local.get $c11)))
              (local.set $c20 (f32x4.add (local.get $s0) (local.get $c20)))
              (local.set $c21 (f32x4.add (local.get $s1) (local.get $c21)))
              (local.set $c30 (f32x4.add (local.get $s0) (local.get $c30)))
              (local.set $c31 (f32x4.add (local.get $s1) (local.get $c31))))
            (v128.store (local.get $ct) (f32x4.min (f32x4.max (local.get $c00) (local.get $lo)) (local.get $hi)))
            (v128.store offset=16 (local.get $ct) (f32x4.min (f32x4.max (local.get $c01) (local.get $lo)) (local.get $hi)))
            (local.set $ct (i32.add (local.get $ct) (local.get $ldc)))
            (v128.store (local.get $ct) (f32x4.min (f32x4.max (local.get $c10) (local.get $lo)) (local.get $hi)))
            (v128.store offset=16 (local.get $ct) (f32x4.min (f32x4.max (local.get $c11) (local.get $lo)) (local.get $hi)))
            (local.set $ct (i32.add (local.get $ct) (local.get $ldc)))
            (v128.store (local.get $ct) (f32x4.min (f32x4.max (local.get $c20) (local.get $lo)) (local.get $hi)))
            (v128.store offset=16 (local.get $ct) (f32x4.min (f32x4.max (local.get $c21) (local.get $lo)) (local.get $hi)))
            (local.set $ct (i32.add (local.get $ct) (local.get $ldc)))
            (v128.store (local.get $ct) (f32x4.min (f32x4.max (local.get $c30) (local.get $lo)) (local.get $hi)))
            (v128.store offset=16 (local.get $ct) (f32x4.min (f32x4.max (local.get $c31) (local.get $lo)) (local.get $hi))))
          (else
            (v128.store (local.get $scratch) (local.get $c00))
            (v128.store offset=16 (local.get $scratch) (local.get $c01))
            (v128.store offset=32 (local.get $scratch) (local.get $c10))
            (v128.store offset=48 (local.get $scratch) (local.get $c11))
            (v128.store offset=64 (local.get $scratch) (local.get $c20))
            (v128.store offset=80 (local.get $scratch) (local.get $c21))
            (v128.store offset=96 (local.get $scratch) (local.get $c30))
            (v128.store offset=112 (local.get $scratch) (local.get $c31))
            (call $finish_partial (local.get $ct) (local.get $ldc)
              (i32.add (local.get $row0) (local.get $i)) (i32.add (local.get $col0) (local.get $j))
              (select (i32.sub (local.get $rows) (local.get $i)) (i32.const 4)
                (i32.lt_u (i32.sub (local.get $rows) (local.get $i)) (i32.const 4)))
              (select (i32.sub (local.get $cols) (local.get $j)) (i32.const 8)
                (i32.lt_u (i32.sub (local.get $cols) (local.get $j)) (i32.const 8)))
              (local.get $scratch))))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br_if $column_panels (i32.lt_u (local.get $j) (local.get $cols))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $row_panels (i32.lt_u (local.get $i) (local.get $rows)))))

  ;; Packs A (rows × k, element (r, p) at src + r·rs + p·cs bytes) into panels of 4 rows at dst,
  ;; rows past the end as zeros.
  (func (export "packA")
    (param $src i32) (param $rs i32) (param $cs i32) (param $rows i32) (param $k i32) (param $dst i32)
    (local $i i32) (local $p i32) (local $r i32) (local $at i32)
    (loop $panels
      (local.set $p (i32.const 0))
      (loop $depth
        (local.set $r (i32.const 0))
        (loop $lanes
          (f32.store (local.get $dst)
            (if (result f32) (i32.lt_u (i32.add (local.get $i) (local.get $r)) (local.get $rows))
              (then (f32.load (i32.add (local.get $src)
                (i32.add (i32.mul (i32.add (local.get $i) (local.get $r)) (local.get $rs))
                  (i32.mul (local.get $p) (local.get $cs))))))
              (else (f32.const 0))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $lanes (i32.lt_u (local.get $r) (i32.const 4))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br_if $depth (i32.lt_u (local.get $p) (local.get $k))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $panels (i32.lt_u (local.get $i) (local.get $rows)))))

  ;; Packs columns [col, col + cols) of B (k × n, element (p, j) at src + p·rs + j·cs bytes)
  ;; into panels of 8 columns at dst, columns past `cols` as zeros.
  (func (export "packB")
    (param $src i32) (param $rs i32) (param $cs i32) (param $k i32) (param $col i32) (param $cols i32)
    (param $dst i32)
    (local $j i32) (local $p i32) (local $l i32) (local $row i32) (local $left i32)
    (loop $panels
      (local.set $left (i32.sub (local.get $cols) (local.get $j)))
      (local.set $row (i32.add (local.get $src) (i32.mul (i32.add (local.get $col) (local.get $j)) (local.get $cs))))
      (local.set $p (i32.const 0))
      (if (i32.and (i32.eq (local.get $cs) (i32.const 4)) (i32.ge_u (local.get $left) (i32.const 8)))
        (then
          (loop $contiguous
            (v128.store (local.get $dst) (v128.load (local.get $row)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $row)))
            (local.set $row (i32.add (local.get $row) (local.get $rs)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br_if $contiguous (i32.lt_u (local.get $p) (local.get $k)))))
        (else
          (loop $strided
            (local.set $l (i32.const 0))
            (loop $lanes
              (f32.store (local.get $dst)
                (if (result f32) (i32.lt_u (local.get $l) (local.get $left))
                  (then (f32.load (i32.add (local.get $row) (i32.mul (local.get $l) (local.get $cs)))))
                  (else (f32.const 0))))
              (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
              (local.set $l (i32.add (local.get $l) (i32.const 1)))
              (br_if $lanes (i32.lt_u (local.get $l) (i32.const 8))))
            (local.set $row (i32.add (local.get $row) (local.get $rs)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br_if $strided (i32.lt_u (local.get $p) (local.get $k))))))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br_if $panels (i32.lt_s (local.get $j) (local.get $cols)))))

  ;; Packs columns [col, col + cols) of the patch matrix of a convolution into panels of 8 at
  ;; dst: element (p, j) is the input value at src + origins[j] + taps[p] (byte offsets, i32
  ;; tables), columns past `cols` zeros. Eight windows side by side in one input row (origins 4
  ;; bytes apart) are two vector loads.
  (func (export "packPatches")
    (param $src i32) (param $origins i32) (param $taps i32) (param $k i32) (param $col i32)
    (param $cols i32) (param $dst i32)
    (local $j i32) (local $p i32) (local $l i32) (local $left i32) (local $first i32) (local $at i32)
    (local $o i32)
    (loop $panels
      (local.set $left (i32.sub (local.get $cols) (local.get $j)))
      (local.set $o (i32.add (local.get $origins) (i32.shl (i32.add (local.get $col) (local.get $j)) (i32.const 2))))
      (local.set $first (i32.add (local.get $src) (i32.load (local.get $o))))
      (local.set $p (i32.const 0))
      (if (i32.and (i32.ge_u (local.get $left) (i32.const 8))
            (i32.eq (i32.sub (i32.load offset=28 (local.get $o)) (i32.load (local.get $o))) (i32.const 28)))
        (then
          (loop $contiguous
            (local.set $at (i32.add (local.get $first) (i32.load (i32.add (local.get $taps) (i32.shl (local.get $p) (i32.const 2))))))
            (v128.store (local.get $dst) (v128.load (local.get $at)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $at)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br_if $contiguous (i32.lt_u (local.get $p) (local.get $k)))))
        (else
          (loop $gathered
            (local.set $at (i32.add (local.get $src) (i32.load (i32.add (local.get $taps) (i32.shl (local.get $p) (i32.const 2))))))
            (local.set $l (i32.const 0))
            (loop $lanes
              (f32.store (local.get $dst)
                (if (result f32) (i32.lt_s (local.get $l) (local.get $left))
                  (then (f32.load (i32.add (local.get $at)
                    (i32.load (i32.add (local.get $o) (i32.shl (local.get $l) (i32.const 2)))))))
                  (else (f32.const 0))))
              (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
              (local.set $l (i32.add (local.get $l) (i32.const 1)))
              (br_if $lanes (i32.lt_u (local.get $l) (i32.const 8))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br_if $gathered (i32.lt_u (local.get $p) (local.get $k))))))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br_if $panels (i32.lt_s (local.get $j) (local.get $cols)))))

  ;; Copies `planes` planes of h × w floats from src into planes of (h + top + bottom) ×
  ;; (w + left + right) at dst, framed by zeros.
  (func (export "pad")
    (param $src i32) (param $planes i32) (param $h i32) (param $w i32) (param $dst i32)
    (param $top i32) (param $bottom i32) (param $left i32) (param $right i32)
    (local $wp i32) (local $y i32) (local $row i32) (local $gap i32)
    (local.set $wp (i32.shl (i32.add (i32.add (local.get $w) (local.get $left)) (local.get $right)) (i32.const 2)))
    (local.set $gap (i32.shl (i32.add (local.get $left) (local.get $right)) (i32.const 2)))
    (local.set $row (i32.shl (local.get $w) (i32.const 2)))
    (loop $planes
      ;; Rows above, then each row's left margin, the row, its right margin, then rows below.
      (memory.fill (local.get $dst) (i32.const 0)
        (i32.add (i32.mul (local.get $top) (local.get $wp)) (i32.shl (local.get $left) (i32.const 2))))
      (local.set $dst (i32.add (local.get $dst)
        (i32.add (i32.mul (local.get $top) (local.get $wp)) (i32.shl (local.get $left) (i32.const 2)))))
      (local.set $y (i32.const 0))
      (loop $rows
        (memory.copy (local.get $dst) (local.get $src) (local.get $row))
        (local.set $src (i32.add (local.get $src) (local.get $row)))
        (local.set $dst (i32.add (local.get $dst) (local.get $row)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (if (i32.lt_u (local.get $y) (local.get $h))
          (then
            (memory.fill (local.get $dst) (i32.const 0) (local.get $gap))
            (local.set $dst (i32.add (local.get $dst) (local.get $gap)))
            (br $rows))))
      (memory.fill (local.get $dst) (i32.const 0)
        (i32.add (i32.mul (local.get $bottom) (local.get $wp)) (i32.shl (local.get $right) (i32.const 2))))
      (local.set $dst (i32.add (local.get $dst)
        (i32.add (i32.mul (local.get $bottom) (local.get $wp)) (i32.shl (local.get $right) (i32.const 2)))))
      (local.set $planes (i32.sub (local.get $planes) (i32.const 1)))
      (br_if $planes (local.get $planes))))

  ;; Depthwise convolution of one padded plane (rows of wp floats at src) with a kh × kw filter
  ;; at weights, to oh × ow outputs at dst: bias plus the taps in row-major order (as the
  ;; JavaScript kernel adds them), clamped. Four outputs at a time where the stride is 1 or 2.
  (func (export "depthwise")
    (param $src i32) (param $wp i32) (param $weights i32) (param $kh i32) (param $kw i32)
    (param $sh i32) (param $sw i32) (param $dh i32) (param $dw i32) (param $oh i32) (param $ow i32)
    (param $dst i32) (param $bias f32) (param $lo f32) (param $hi f32)
    (local $oy i32) (local $ox i32) (local $ky i32) (local $kx i32) (local $row i32) (local $at i32)
    (local $tap i32) (local $acc v128) (local $x v128) (local $s f32) (local $vectors i32)
    (local $stride_bytes i32)
    (local.set $wp (i32.shl (local.get $wp) (i32.const 2)))
    (local.set $vectors (select (i32.and (local.get $ow) (i32.const -4)) (i32.const 0)
      (i32.le_u (local.get $sw) (i32.const 2))))
    (local.set $stride_bytes (i32.shl (local.get $sw) (i32.const 2)))
    (loop $rows
      (local.set $row (i32.add (local.get $src) (i32.mul (i32.mul (local.get $oy) (local.get $sh)) (local.get $wp))))
      (local.set $ox (i32.const 0))
      (block $vectors_done
        (br_if $vectors_done (i32.eqz (local.get $vectors)))
        (loop $four
          (local.set $acc (f32x4.splat (local.get $bias)))
          (local.set $tap (local.get $weights))
          (local.set $ky (i32.const 0))
          (loop $filter_rows
            (local.set $at (i32.add (i32.add (local.get $row) (i32.mul (i32.mul (local.get $ky) (local.get $dh)) (local.get $wp)))
              (i32.mul (local.get $ox) (local.get $stride_bytes))))
            (local.set $kx (i32.const 0))
            (loop $filter_cols
              (local.set $x (v128.load (local.get $at)))
              (if (i32.eq (local.get $sw) (i32.const 2))
                (then (local.set $x (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
                  (local.get $x) (v128.load offset=16 (local.get $at))))))
              (local.set $acc (f32x4.add (local.get $acc)
                (f32x4.mul (v128.load32_splat (local.get $tap)) (local.get $x))))
              (local.set $tap (i32.add (local.get $tap) (i32.const 4)))
              (local.set $at (i32.add (local.get $at) (i32.shl (local.get $dw) (i32.const 2))))
              (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
              (br_if $filter_cols (i32.lt_u (local.get $kx) (local.get $kw))))
            (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
            (br_if $filter_rows (i32.lt_u (local.get $ky) (local.get $kh))))
          (v128.store (i32.add (local.get $dst) (i32.shl (local.get $ox) (i32.const 2)))
            (f32x4.min (f32x4.max (local.get $acc) (f32x4.splat (local.get $lo))) (f32x4.splat (local.get $hi))))
          (local.set $ox (i32.add (local.get $ox) (i32.const 4)))
          (br_if $four (i32.lt_u (local.get $ox) (local.get $vectors)))))
      (block $tail_done
        (br_if $tail_done (i32.ge_u (local.get $ox) (local.get $ow)))
        (loop $one
          (local.set $s (local.get $bias))
          (local.set $tap (local.get $weights))
          (local.set $ky (i32.const 0))
          (loop $filter_rows
            (local.set $at (i32.add (i32.add (local.get $row) (i32.mul (i32.mul (local.get $ky) (local.get $dh)) (local.get $wp)))
              (i32.mul (local.get $ox) (local.get $stride_bytes))))
            (local.set $kx (i32.const 0))
            (loop $filter_cols
              (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $tap)) (f32.load (local.get $at)))))
              (local.set $tap (i32.add (local.get $tap) (i32.const 4)))
              (local.set $at (i32.add (local.get $at) (i32.shl (local.get $dw) (i32.const 2))))
              (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
              (br_if $filter_cols (i32.lt_u (local.get $kx) (local.get $kw))))
            (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
            (br_if $filter_rows (i32.lt_u (local.get $ky) (local.get $kh))))
          (f32.store (i32.add (local.get $dst) (i32.shl (local.get $ox) (i32.const 2)))
            (f32.min (f32.max (local.get $s) (local.get $lo)) (local.get $hi)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br_if $one (i32.lt_u (local.get $ox) (local.get $ow)))))
      (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $ow) (i32.const 2))))
      (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $oy) (local.get $oh)))))
)
