;; Lloyd's assignment step of vector k-means on 2-vectors over a tree of their points (see
;; ../palettize/vector-kmeans.ts, TreeAssignment.visitPairs, which owns the algorithm and is the
;; reference): the same walk, pruning test and sums in the same order, so the same clusters. In
;; WebAssembly a fresh worker runs it at full speed from its first call (the JavaScript walk
;; waits for V8 to optimize it) and the warm walk is faster too.
;; Assembled by `npm run gen:wasm`.
(module
  (memory (export "memory") 1)

  ;; The fixed layout of the first page (byte addresses), written by the caller:
  ;; LEVELS     0      32 × i32: each level's first node record (levels[0] the leaves)
  ;; CENTROIDS  128    256 × (x, y) f64
  ;; NORMS      4224   256 × f64: ‖c‖² as the caller computes it
  ;; TOTALS     6272   256 × f64 \
  ;; SUMS       8320   256 × 2 f64 } each cluster's weight, sum and Σ ‖x‖², written here
  ;; SQUARES    12416  256 × f64 /
  ;; CANDIDATES 14464  33 × 256 × i32: candidate lists, k entries per depth
  ;; SPLAT      48256  256 × 2 f64x2: the centroids, each coordinate in both lanes
  ;; CHOSEN     56448  32 × i32: k-means++ candidates
  ;; POTENTIALS 56576  32 × f64: their potentials
  ;; SEEDS      60928  256 × (x, y) f64: k-means++ seeds
  ;; A node record (96 bytes): mean x, y; low x, y; high x, y; sum x, y; weight; Σ ‖x‖² (f64);
  ;; then its children first … end − 1 in the level below, and its points start … end − 1 (i32).
  (global $sorted (mut i32) (i32.const 0))
  (global $order (mut i32) (i32.const 0))
  (global $labels (mut i32) (i32.const 0))
  (global $k (mut i32) (i32.const 0))
  (global $atom (mut i32) (i32.const 0))

  ;; Everything assigned from the root, level $top; labels (one byte per input point, through
  ;; the sorted points' input indices at $order) written when $labels is not 0.
  (func (export "evaluate") (param $sorted i32) (param $order i32) (param $labels i32)
    (param $k i32) (param $top i32) (param $atom i32)
    (local $j i32)
    (global.set $sorted (local.get $sorted))
    (global.set $order (local.get $order))
    (global.set $labels (local.get $labels))
    (global.set $k (local.get $k))
    (global.set $atom (local.get $atom))
    (memory.fill (i32.const 6272) (i32.const 0) (i32.const 8192))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $j) (local.get $k)))
        (i32.store offset=14464 (i32.shl (local.get $j) (i32.const 2)) (local.get $j))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $each)))
    (call $visit (local.get $top) (i32.load (i32.shl (local.get $top) (i32.const 2)))
      (i32.const 0) (local.get $k)))

  ;; Lloyd's assignment step point by point (PointAssignment in vector-kmeans.ts): each node
  ;; record of level $level joins the centroid nearest its mean as a whole, labelled first into
  ;; $scratch (a byte per node); the cluster sums as evaluate writes them.
  (func (export "assignNodes") (param $level i32) (param $k i32) (param $scratch i32)
    (local $node i32) (local $end i32) (local $label i32) (local $i i32)
    (local.set $node (i32.load (i32.shl (local.get $level) (i32.const 2))))
    (local.set $end (i32.load offset=4 (i32.shl (local.get $level) (i32.const 2))))
    (call $label (local.get $node) (i32.const 96)
      (i32.div_u (i32.sub (local.get $end) (local.get $node)) (i32.const 96))
      (local.get $k) (local.get $scratch))
    (memory.fill (i32.const 6272) (i32.const 0) (i32.const 8192))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $node) (local.get $end)))
        (local.set $label (i32.load8_u (i32.add (local.get $scratch) (local.get $i))))
        (f64.store offset=6272 (i32.shl (local.get $label) (i32.const 3))
          (f64.add (f64.load offset=6272 (i32.shl (local.get $label) (i32.const 3)))
            (f64.load offset=64 (local.get $node))))
        (f64.store offset=12416 (i32.shl (local.get $label) (i32.const 3))
          (f64.add (f64.load offset=12416 (i32.shl (local.get $label) (i32.const 3)))
            (f64.load offset=72 (local.get $node))))
        (f64.store offset=8320 (i32.shl (local.get $label) (i32.const 4))
          (f64.add (f64.load offset=8320 (i32.shl (local.get $label) (i32.const 4)))
            (f64.load offset=48 (local.get $node))))
        (f64.store offset=8328 (i32.shl (local.get $label) (i32.const 4))
          (f64.add (f64.load offset=8328 (i32.shl (local.get $label) (i32.const 4)))
            (f64.load offset=56 (local.get $node))))
        (local.set $node (i32.add (local.get $node) (i32.const 96)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))

  ;; The same for the $n sorted points themselves (weight 1 each), with labels as evaluate.
  (func (export "assignPoints") (param $sorted i32) (param $order i32) (param $labels i32)
    (param $n i32) (param $k i32) (param $scratch i32)
    (local $q i32) (local $at i32) (local $label i32) (local $x f64) (local $y f64)
    (call $label (local.get $sorted) (i32.const 16) (local.get $n) (local.get $k) (local.get $scratch))
    (memory.fill (i32.const 6272) (i32.const 0) (i32.const 8192))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $q) (local.get $n)))
        (local.set $at (i32.add (local.get $sorted) (i32.shl (local.get $q) (i32.const 4))))
        (local.set $x (f64.load (local.get $at)))
        (local.set $y (f64.load offset=8 (local.get $at)))
        (local.set $label (i32.load8_u (i32.add (local.get $scratch) (local.get $q))))
        (f64.store offset=8320 (i32.shl (local.get $label) (i32.const 4))
          (f64.add (f64.load offset=8320 (i32.shl (local.get $label) (i32.const 4))) (local.get $x)))
        (f64.store offset=8328 (i32.shl (local.get $label) (i32.const 4))
          (f64.add (f64.load offset=8328 (i32.shl (local.get $label) (i32.const 4))) (local.get $y)))
        (f64.store offset=12416 (i32.shl (local.get $label) (i32.const 3))
          (f64.add (f64.load offset=12416 (i32.shl (local.get $label) (i32.const 3)))
            (f64.add (f64.mul (local.get $x) (local.get $x)) (f64.mul (local.get $y) (local.get $y)))))
        (f64.store offset=6272 (i32.shl (local.get $label) (i32.const 3))
          (f64.add (f64.load offset=6272 (i32.shl (local.get $label) (i32.const 3))) (f64.const 1)))
        (if (local.get $labels)
          (then
            (i32.store8
              (i32.add (local.get $labels)
                (i32.load (i32.add (local.get $order) (i32.shl (local.get $q) (i32.const 2)))))
              (local.get $label))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $each))))

  ;; Each of $n points (x, y at $points, $stride bytes apart) labelled with its nearest of the
  ;; k centroids (the first of equals) into $labels, as nearest-centroid.wat's label2 does:
  ;; four points at a time in f64 lanes, against the centroids splatted first to SPLAT (48256).
  (func $label (param $points i32) (param $stride i32) (param $n i32) (param $k i32) (param $labels i32)
    (local $p i32) (local $c i32) (local $end i32) (local $last i32)
    (local $a i32) (local $b i32) (local $a2 i32) (local $b2 i32)
    (local $cx v128) (local $cy v128) (local $dx v128) (local $dy v128)
    (local $x v128) (local $y v128) (local $d v128) (local $best v128) (local $label v128) (local $closer v128)
    (local $x2 v128) (local $y2 v128) (local $d2 v128) (local $best2 v128) (local $label2 v128) (local $closer2 v128)
    (local $j v128)
    (local.set $end (i32.add (i32.const 48256) (i32.shl (local.get $k) (i32.const 5))))
    (local.set $c (i32.const 48256))
    (block $splatted
      (loop $splat
        (br_if $splatted (i32.ge_u (local.get $c) (local.get $end)))
        (v128.store (local.get $c)
          (v128.load64_splat (i32.add (i32.shr_u (i32.sub (local.get $c) (i32.const 48256)) (i32.const 1)) (i32.const 128))))
        (v128.store offset=16 (local.get $c)
          (v128.load64_splat offset=8 (i32.add (i32.shr_u (i32.sub (local.get $c) (i32.const 48256)) (i32.const 1)) (i32.const 128))))
        (local.set $c (i32.add (local.get $c) (i32.const 32)))
        (br $splat)))
    (local.set $last (i32.sub (local.get $n) (i32.const 1)))
    (block $done
      (loop $quad
        (br_if $done (i32.ge_s (local.get $p) (local.get $n)))
        ;; Points p … p + 3 (the last again past it).
        (local.set $a (i32.add (local.get $points) (i32.mul (local.get $p) (local.get $stride))))
        (local.set $b (i32.add (local.get $points) (i32.mul (local.get $stride)
          (select (i32.add (local.get $p) (i32.const 1)) (local.get $last)
            (i32.lt_s (i32.add (local.get $p) (i32.const 1)) (local.get $last))))))
        (local.set $a2 (i32.add (local.get $points) (i32.mul (local.get $stride)
          (select (i32.add (local.get $p) (i32.const 2)) (local.get $last)
            (i32.lt_s (i32.add (local.get $p) (i32.const 2)) (local.get $last))))))
        (local.set $b2 (i32.add (local.get $points) (i32.mul (local.get $stride)
          (select (i32.add (local.get $p) (i32.const 3)) (local.get $last)
            (i32.lt_s (i32.add (local.get $p) (i32.const 3)) (local.get $last))))))
        (local.set $x (v128.load64_lane 1 (local.get $b) (v128.load64_zero (local.get $a))))
        (local.set $y (v128.load64_lane offset=8 1 (local.get $b) (v128.load64_zero offset=8 (local.get $a))))
        (local.set $x2 (v128.load64_lane 1 (local.get $b2) (v128.load64_zero (local.get $a2))))
        (local.set $y2 (v128.load64_lane offset=8 1 (local.get $b2) (v128.load64_zero offset=8 (local.get $a2))))
        (local.set $best (f64x2.splat (f64.const inf)))
        (local.set $best2 (f64x2.splat (f64.const inf)))
        (local.set $label (i64x2.splat (i64.const 0)))
        (local.set $label2 (i64x2.splat (i64.const 0)))
        (local.set $j (i64x2.splat (i64.const 0)))
        (local.set $c (i32.const 48256))
        (loop $centroid
          (local.set $cx (v128.load (local.get $c)))
          (local.set $cy (v128.load offset=16 (local.get $c)))
          (local.set $dx (f64x2.sub (local.get $x) (local.get $cx)))
          (local.set $dy (f64x2.sub (local.get $y) (local.get $cy)))
          (local.set $d (f64x2.add (f64x2.mul (local.get $dx) (local.get $dx)) (f64x2.mul (local.get $dy) (local.get $dy))))
          (local.set $dx (f64x2.sub (local.get $x2) (local.get $cx)))
          (local.set $dy (f64x2.sub (local.get $y2) (local.get $cy)))
          (local.set $d2 (f64x2.add (f64x2.mul (local.get $dx) (local.get $dx)) (f64x2.mul (local.get $dy) (local.get $dy))))
          (local.set $closer (f64x2.lt (local.get $d) (local.get $best)))
          (local.set $closer2 (f64x2.lt (local.get $d2) (local.get $best2)))
          (local.set $best (v128.bitselect (local.get $d) (local.get $best) (local.get $closer)))
          (local.set $best2 (v128.bitselect (local.get $d2) (local.get $best2) (local.get $closer2)))
          (local.set $label (v128.bitselect (local.get $j) (local.get $label) (local.get $closer)))
          (local.set $label2 (v128.bitselect (local.get $j) (local.get $label2) (local.get $closer2)))
          (local.set $j (i64x2.add (local.get $j) (i64x2.splat (i64.const 1))))
          (local.set $c (i32.add (local.get $c) (i32.const 32)))
          (br_if $centroid (i32.lt_u (local.get $c) (local.get $end))))
        (i32.store8 (i32.add (local.get $labels) (local.get $p)) (i32.wrap_i64 (i64x2.extract_lane 0 (local.get $label))))
        (if (i32.lt_s (i32.add (local.get $p) (i32.const 1)) (local.get $n))
          (then (i32.store8 offset=1 (i32.add (local.get $labels) (local.get $p))
            (i32.wrap_i64 (i64x2.extract_lane 1 (local.get $label))))))
        (if (i32.lt_s (i32.add (local.get $p) (i32.const 2)) (local.get $n))
          (then (i32.store8 offset=2 (i32.add (local.get $labels) (local.get $p))
            (i32.wrap_i64 (i64x2.extract_lane 0 (local.get $label2))))))
        (if (i32.lt_s (i32.add (local.get $p) (i32.const 3)) (local.get $n))
          (then (i32.store8 offset=3 (i32.add (local.get $labels) (local.get $p))
            (i32.wrap_i64 (i64x2.extract_lane 1 (local.get $label2))))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $quad))))

  ;; Greedy k-means++ (seedCentroids in vector-kmeans.ts): $count weighted points, x and y at
  ;; $means ($stride bytes apart), weights at $weights ($weightStride apart: 0 for all at one
  ;; address); $randoms the 1 + (k − 1) × $trials uniform draws the seeding takes, in order;
  ;; $scratch 16 bytes a point. The k seeds go to SEEDS (60928) as (x, y) f64.
  (func (export "seed") (param $means i32) (param $stride i32) (param $weights i32)
    (param $weightStride i32) (param $count i32) (param $k i32) (param $trials i32)
    (param $randoms i32) (param $scratch i32)
    (local $p i32) (local $c i32) (local $t i32) (local $point i32) (local $random i32)
    (local $total f64) (local $potential f64)
    (local.set $total (f64.const 0))
    (local.set $p (i32.const 0))
    (loop $cumulate
      (local.set $total (f64.add (local.get $total)
        (f64.load (i32.add (local.get $weights) (i32.mul (local.get $p) (local.get $weightStride))))))
      (f64.store (i32.add (local.get $scratch) (i32.shl (local.get $p) (i32.const 3))) (local.get $total))
      ;; nearest (the second half of $scratch) starts at infinity.
      (f64.store (i32.add (local.get $scratch) (i32.shl (i32.add (local.get $p) (local.get $count)) (i32.const 3)))
        (f64.const inf))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $cumulate (i32.lt_u (local.get $p) (local.get $count))))
    (local.set $point (call $draw (local.get $scratch) (local.get $count)
      (f64.mul (f64.load (local.get $randoms)) (local.get $total))))
    (local.set $random (i32.add (local.get $randoms) (i32.const 8)))
    (v128.store (i32.const 60928)
      (v128.load64_lane offset=8 1 (i32.add (local.get $means) (i32.mul (local.get $point) (local.get $stride)))
        (v128.load64_zero (i32.add (local.get $means) (i32.mul (local.get $point) (local.get $stride))))))
    (local.set $total (call $nearer (local.get $means) (local.get $stride) (local.get $weights)
      (local.get $weightStride) (local.get $count) (local.get $point) (local.get $scratch)))
    (local.set $c (i32.const 1))
    (block $seeded
      (loop $centroid
        (br_if $seeded (i32.ge_u (local.get $c) (local.get $k)))
        ;; The candidates, all drawn from one distribution, to CHOSEN (56448).
        (local.set $t (i32.const 0))
        (loop $draws
          (i32.store offset=56448 (i32.shl (local.get $t) (i32.const 2))
            (call $draw (local.get $scratch) (local.get $count)
              (f64.mul (f64.load (local.get $random)) (local.get $total))))
          (local.set $random (i32.add (local.get $random) (i32.const 8)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br_if $draws (i32.lt_u (local.get $t) (local.get $trials))))
        (call $potentials (local.get $means) (local.get $stride) (local.get $weights)
          (local.get $weightStride) (local.get $count) (local.get $trials) (local.get $scratch))
        ;; The candidate of least potential (the first of equals), read from POTENTIALS (56576).
        (local.set $potential (f64.const inf))
        (local.set $point (i32.const 0))
        (local.set $t (i32.const 0))
        (loop $best
          (if (f64.lt (f64.load offset=56576 (i32.shl (local.get $t) (i32.const 3))) (local.get $potential))
            (then
              (local.set $potential (f64.load offset=56576 (i32.shl (local.get $t) (i32.const 3))))
              (local.set $point (i32.load offset=56448 (i32.shl (local.get $t) (i32.const 2))))))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br_if $best (i32.lt_u (local.get $t) (local.get $trials))))
        (v128.store offset=60928 (i32.shl (local.get $c) (i32.const 4))
          (v128.load64_lane offset=8 1 (i32.add (local.get $means) (i32.mul (local.get $point) (local.get $stride)))
            (v128.load64_zero (i32.add (local.get $means) (i32.mul (local.get $point) (local.get $stride))))))
        (if (i32.lt_u (i32.add (local.get $c) (i32.const 1)) (local.get $k))
          (then
            (local.set $total (call $nearer (local.get $means) (local.get $stride) (local.get $weights)
              (local.get $weightStride) (local.get $count) (local.get $point) (local.get $scratch)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $centroid))))

  ;; The first point whose running total (the first half of $scratch) exceeds $target.
  (func $draw (param $cumulative i32) (param $count i32) (param $target f64) (result i32)
    (local $lo i32) (local $hi i32) (local $mid i32)
    (local.set $hi (i32.sub (local.get $count) (i32.const 1)))
    (block $found
      (loop $halve
        (br_if $found (i32.ge_s (local.get $lo) (local.get $hi)))
        (local.set $mid (i32.shr_u (i32.add (local.get $lo) (local.get $hi)) (i32.const 1)))
        (if (f64.le (f64.load (i32.add (local.get $cumulative) (i32.shl (local.get $mid) (i32.const 3))))
              (local.get $target))
          (then (local.set $lo (i32.add (local.get $mid) (i32.const 1))))
          (else (local.set $hi (local.get $mid))))
        (br $halve)))
    (local.get $lo))

  ;; A new centroid at point $point: nearest[p] = min(nearest[p], ‖p − point‖²) and the running
  ;; Σ weight × nearest; returns the total.
  (func $nearer (param $means i32) (param $stride i32) (param $weights i32) (param $weightStride i32)
    (param $count i32) (param $point i32) (param $scratch i32) (result f64)
    (local $p i32) (local $at i32) (local $w i32) (local $near i32)
    (local $x f64) (local $y f64) (local $dx f64) (local $dy f64) (local $d f64) (local $total f64)
    (local.set $at (i32.add (local.get $means) (i32.mul (local.get $point) (local.get $stride))))
    (local.set $x (f64.load (local.get $at)))
    (local.set $y (f64.load offset=8 (local.get $at)))
    (local.set $at (local.get $means))
    (local.set $w (local.get $weights))
    (local.set $near (i32.add (local.get $scratch) (i32.shl (local.get $count) (i32.const 3))))
    (loop $each
      (local.set $dx (f64.sub (f64.load (local.get $at)) (local.get $x)))
      (local.set $dy (f64.sub (f64.load offset=8 (local.get $at)) (local.get $y)))
      (local.set $d (f64.min (f64.load (local.get $near))
        (f64.add (f64.mul (local.get $dx) (local.get $dx)) (f64.mul (local.get $dy) (local.get $dy)))))
      (f64.store (local.get $near) (local.get $d))
      (local.set $total (f64.add (local.get $total) (f64.mul (f64.load (local.get $w)) (local.get $d))))
      (f64.store (i32.add (local.get $scratch) (i32.shl (local.get $p) (i32.const 3))) (local.get $total))
      (local.set $at (i32.add (local.get $at) (local.get $stride)))
      (local.set $w (i32.add (local.get $w) (local.get $weightStride)))
      (local.set $near (i32.add (local.get $near) (i32.const 8)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $p) (local.get $count))))
    (local.get $total))

  ;; For each candidate t at CHOSEN: Σ weight × min(nearest, ‖p − candidate‖²) to POTENTIALS,
  ;; four candidates a pass over the points in two pairs of f64 lanes (the last repeated).
  (func $potentials (param $means i32) (param $stride i32) (param $weights i32)
    (param $weightStride i32) (param $count i32) (param $trials i32) (param $scratch i32)
    (local $t i32) (local $p i32) (local $at i32) (local $w i32) (local $near i32) (local $last i32)
    (local $a i32) (local $b i32)
    (local $ax v128) (local $ay v128) (local $bx v128) (local $by v128)
    (local $x v128) (local $y v128) (local $dx v128) (local $dy v128) (local $nearest v128) (local $weight v128)
    (local $sa v128) (local $sb v128)
    (local.set $last (i32.sub (local.get $trials) (i32.const 1)))
    (loop $fours
      ;; Candidates t, t + 1 in the lanes of a; t + 2, t + 3 in those of b.
      (local.set $a (i32.load offset=56448 (i32.shl (local.get $t) (i32.const 2))))
      (local.set $b (i32.load offset=56448 (i32.shl
        (select (i32.add (local.get $t) (i32.const 1)) (local.get $last)
          (i32.lt_s (i32.add (local.get $t) (i32.const 1)) (local.get $last))) (i32.const 2))))
      (local.set $ax (v128.load64_lane 1 (i32.add (local.get $means) (i32.mul (local.get $b) (local.get $stride)))
        (v128.load64_zero (i32.add (local.get $means) (i32.mul (local.get $a) (local.get $stride))))))
      (local.set $ay (v128.load64_lane offset=8 1 (i32.add (local.get $means) (i32.mul (local.get $b) (local.get $stride)))
        (v128.load64_zero offset=8 (i32.add (local.get $means) (i32.mul (local.get $a) (local.get $stride))))))
      (local.set $a (i32.load offset=56448 (i32.shl
        (select (i32.add (local.get $t) (i32.const 2)) (local.get $last)
          (i32.lt_s (i32.add (local.get $t) (i32.const 2)) (local.get $last))) (i32.const 2))))
      (local.set $b (i32.load offset=56448 (i32.shl
        (select (i32.add (local.get $t) (i32.const 3)) (local.get $last)
          (i32.lt_s (i32.add (local.get $t) (i32.const 3)) (local.get $last))) (i32.const 2))))
      (local.set $bx (v128.load64_lane 1 (i32.add (local.get $means) (i32.mul (local.get $b) (local.get $stride)))
        (v128.load64_zero (i32.add (local.get $means) (i32.mul (local.get $a) (local.get $stride))))))
      (local.set $by (v128.load64_lane offset=8 1 (i32.add (local.get $means) (i32.mul (local.get $b) (local.get $stride)))
        (v128.load64_zero offset=8 (i32.add (local.get $means) (i32.mul (local.get $a) (local.get $stride))))))
      (local.set $sa (f64x2.splat (f64.const 0)))
      (local.set $sb (f64x2.splat (f64.const 0)))
      (local.set $at (local.get $means))
      (local.set $w (local.get $weights))
      (local.set $near (i32.add (local.get $scratch) (i32.shl (local.get $count) (i32.const 3))))
      (local.set $p (i32.const 0))
      (loop $each
        (local.set $x (v128.load64_splat (local.get $at)))
        (local.set $y (v128.load64_splat offset=8 (local.get $at)))
        (local.set $nearest (v128.load64_splat (local.get $near)))
        (local.set $weight (v128.load64_splat (local.get $w)))
        (local.set $dx (f64x2.sub (local.get $x) (local.get $ax)))
        (local.set $dy (f64x2.sub (local.get $y) (local.get $ay)))
        (local.set $sa (f64x2.add (local.get $sa) (f64x2.mul (local.get $weight) (f64x2.min (local.get $nearest)
          (f64x2.add (f64x2.mul (local.get $dx) (local.get $dx)) (f64x2.mul (local.get $dy) (local.get $dy)))))))
        (local.set $dx (f64x2.sub (local.get $x) (local.get $bx)))
        (local.set $dy (f64x2.sub (local.get $y) (local.get $by)))
        (local.set $sb (f64x2.add (local.get $sb) (f64x2.mul (local.get $weight) (f64x2.min (local.get $nearest)
          (f64x2.add (f64x2.mul (local.get $dx) (local.get $dx)) (f64x2.mul (local.get $dy) (local.get $dy)))))))
        (local.set $at (i32.add (local.get $at) (local.get $stride)))
        (local.set $w (i32.add (local.get $w) (local.get $weightStride)))
        (local.set $near (i32.add (local.get $near) (i32.const 8)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br_if $each (i32.lt_u (local.get $p) (local.get $count))))
      ;; POTENTIALS has room past the last trial for the repeats.
      (v128.store offset=56576 (i32.shl (local.get $t) (i32.const 3)) (local.get $sa))
      (v128.store offset=56592 (i32.shl (local.get $t) (i32.const 3)) (local.get $sb))
      (local.set $t (i32.add (local.get $t) (i32.const 4)))
      (br_if $fours (i32.lt_u (local.get $t) (local.get $trials)))))

  ;; The tree of $n points (x, y at $points), as buildTree in vector-kmeans.ts builds it for
  ;; 2-vectors, its node records at $records (levels 0 … $bits, their starts in LEVELS), the
  ;; points less the center ($cx, $cy) in leaf order at $sorted and their input indices at
  ;; $order. Each point's cell is the Morton code of its sub-bins on the grid: sub-bin
  ;; (v − low) × scale truncated and clamped to 0 … 1023, its code bits at $tables (1024 i32 for
  ;; x, then y). Scratch: $codes (4n bytes), $offsets (4 (slots + 1), zeroed by the caller),
  ;; $next (4 slots). Returns 0, or 1 (and builds nothing) when a sub-bin lies past ±2^31, where
  ;; JavaScript's `| 0` wraps around: the caller builds the tree itself then.
  (func (export "build") (param $points i32) (param $n i32) (param $cx f64) (param $cy f64)
    (param $lowX f64) (param $lowY f64) (param $scaleX f64) (param $scaleY f64)
    (param $tables i32) (param $codes i32) (param $offsets i32) (param $next i32)
    (param $bits i32) (param $sorted i32) (param $order i32) (param $records i32) (result i32)
    (local $p i32) (local $s i32) (local $slots i32) (local $code i32) (local $at i32) (local $sub i32)
    (local $v f64)
    (local.set $slots (i32.shl (i32.const 1) (i32.shl (local.get $bits) (i32.const 1))))
    ;; Each point's cell, and the count of each (at offsets[cell + 1]).
    (block $coded
      (loop $each
        (br_if $coded (i32.ge_u (local.get $p) (local.get $n)))
        (local.set $v (f64.mul
          (f64.sub (f64.load (i32.add (local.get $points) (i32.shl (local.get $p) (i32.const 4)))) (local.get $lowX))
          (local.get $scaleX)))
        (if (i32.eqz (f64.lt (f64.abs (local.get $v)) (f64.const 2147483648)))
          (then (if (f64.eq (local.get $v) (local.get $v)) (then (return (i32.const 1))))))
        (local.set $sub (i32.trunc_sat_f64_s (local.get $v)))
        (local.set $code (i32.load (i32.add (local.get $tables) (i32.shl
          (select (i32.const 0)
            (select (local.get $sub) (i32.const 1023) (i32.lt_s (local.get $sub) (i32.const 1024)))
            (i32.lt_s (local.get $sub) (i32.const 0)))
          (i32.const 2)))))
        (local.set $v (f64.mul
          (f64.sub (f64.load offset=8 (i32.add (local.get $points) (i32.shl (local.get $p) (i32.const 4)))) (local.get $lowY))
          (local.get $scaleY)))
        (if (i32.eqz (f64.lt (f64.abs (local.get $v)) (f64.const 2147483648)))
          (then (if (f64.eq (local.get $v) (local.get $v)) (then (return (i32.const 1))))))
        (local.set $sub (i32.trunc_sat_f64_s (local.get $v)))
        (local.set $code (i32.or (local.get $code) (i32.load offset=4096 (i32.add (local.get $tables) (i32.shl
          (select (i32.const 0)
            (select (local.get $sub) (i32.const 1023) (i32.lt_s (local.get $sub) (i32.const 1024)))
            (i32.lt_s (local.get $sub) (i32.const 0)))
          (i32.const 2))))))
        (i32.store (i32.add (local.get $codes) (i32.shl (local.get $p) (i32.const 2))) (local.get $code))
        (local.set $at (i32.add (local.get $offsets) (i32.shl (local.get $code) (i32.const 2))))
        (i32.store offset=4 (local.get $at) (i32.add (i32.load offset=4 (local.get $at)) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $each)))
    ;; offsets[s]: cell s's first point; next[s] the same, to count up while sorting.
    (loop $sum
      (local.set $at (i32.add (local.get $offsets) (i32.shl (local.get $s) (i32.const 2))))
      (i32.store offset=4 (local.get $at) (i32.add (i32.load offset=4 (local.get $at)) (i32.load (local.get $at))))
      (i32.store (i32.add (local.get $next) (i32.shl (local.get $s) (i32.const 2))) (i32.load (local.get $at)))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br_if $sum (i32.lt_u (local.get $s) (local.get $slots))))
    ;; The points less the center in cell order (stable), and the input index of each.
    (local.set $p (i32.const 0))
    (block $sorted
      (loop $each
        (br_if $sorted (i32.ge_u (local.get $p) (local.get $n)))
        (local.set $s (i32.add (local.get $next)
          (i32.shl (i32.load (i32.add (local.get $codes) (i32.shl (local.get $p) (i32.const 2)))) (i32.const 2))))
        (local.set $at (i32.load (local.get $s)))
        (i32.store (local.get $s) (i32.add (local.get $at) (i32.const 1)))
        (i32.store (i32.add (local.get $order) (i32.shl (local.get $at) (i32.const 2))) (local.get $p))
        (local.set $code (i32.add (local.get $points) (i32.shl (local.get $p) (i32.const 4))))
        (local.set $at (i32.add (local.get $sorted) (i32.shl (local.get $at) (i32.const 4))))
        (f64.store (local.get $at) (f64.sub (f64.load (local.get $code)) (local.get $cx)))
        (f64.store offset=8 (local.get $at) (f64.sub (f64.load offset=8 (local.get $code)) (local.get $cy)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $each)))
    (call $leaves (local.get $offsets) (local.get $slots) (local.get $codes) (local.get $sorted)
      (local.get $records))
    (call $parents (local.get $bits) (local.get $codes))
    (i32.const 0))

  ;; The leaves (non-empty cells) as node records at $records, LEVELS[0] and LEVELS[1] set; each
  ;; leaf's cell code to $codes.
  (func $leaves (param $offsets i32) (param $slots i32) (param $codes i32) (param $sorted i32)
    (param $records i32)
    (local $s i32) (local $node i32) (local $start i32) (local $end i32) (local $q i32) (local $at i32)
    (local $x f64) (local $y f64) (local $sx f64) (local $sy f64) (local $square f64) (local $w f64)
    (local $lowX f64) (local $lowY f64) (local $highX f64) (local $highY f64)
    (i32.store (i32.const 0) (local.get $records))
    (local.set $node (local.get $records))
    (block $done
      (loop $cell
        (br_if $done (i32.ge_u (local.get $s) (local.get $slots)))
        (local.set $start (i32.load (i32.add (local.get $offsets) (i32.shl (local.get $s) (i32.const 2)))))
        (local.set $end (i32.load offset=4 (i32.add (local.get $offsets) (i32.shl (local.get $s) (i32.const 2)))))
        (if (i32.ne (local.get $start) (local.get $end))
          (then
            (local.set $sx (f64.const 0))
            (local.set $sy (f64.const 0))
            (local.set $square (f64.const 0))
            (local.set $lowX (f64.const inf))
            (local.set $lowY (f64.const inf))
            (local.set $highX (f64.const -inf))
            (local.set $highY (f64.const -inf))
            (local.set $q (local.get $start))
            (loop $point
              (local.set $at (i32.add (local.get $sorted) (i32.shl (local.get $q) (i32.const 4))))
              (local.set $x (f64.load (local.get $at)))
              (local.set $y (f64.load offset=8 (local.get $at)))
              (local.set $sx (f64.add (local.get $sx) (local.get $x)))
              (local.set $sy (f64.add (local.get $sy) (local.get $y)))
              (local.set $square (f64.add (local.get $square)
                (f64.add (f64.mul (local.get $x) (local.get $x)) (f64.mul (local.get $y) (local.get $y)))))
              (if (f64.lt (local.get $x) (local.get $lowX)) (then (local.set $lowX (local.get $x))))
              (if (f64.gt (local.get $x) (local.get $highX)) (then (local.set $highX (local.get $x))))
              (if (f64.lt (local.get $y) (local.get $lowY)) (then (local.set $lowY (local.get $y))))
              (if (f64.gt (local.get $y) (local.get $highY)) (then (local.set $highY (local.get $y))))
              (local.set $q (i32.add (local.get $q) (i32.const 1)))
              (br_if $point (i32.lt_u (local.get $q) (local.get $end))))
            (local.set $w (f64.convert_i32_u (i32.sub (local.get $end) (local.get $start))))
            (f64.store (local.get $node) (f64.div (local.get $sx) (local.get $w)))
            (f64.store offset=8 (local.get $node) (f64.div (local.get $sy) (local.get $w)))
            (f64.store offset=16 (local.get $node) (local.get $lowX))
            (f64.store offset=24 (local.get $node) (local.get $lowY))
            (f64.store offset=32 (local.get $node) (local.get $highX))
            (f64.store offset=40 (local.get $node) (local.get $highY))
            (f64.store offset=48 (local.get $node) (local.get $sx))
            (f64.store offset=56 (local.get $node) (local.get $sy))
            (f64.store offset=64 (local.get $node) (local.get $w))
            (f64.store offset=72 (local.get $node) (local.get $square))
            (i32.store offset=80 (local.get $node) (local.get $start))
            (i32.store offset=84 (local.get $node) (local.get $end))
            (i32.store offset=88 (local.get $node) (local.get $start))
            (i32.store offset=92 (local.get $node) (local.get $end))
            ;; (The points' codes are all read by now.)
            (i32.store (i32.add (local.get $codes)
              (i32.div_u (i32.sub (local.get $node) (local.get $records)) (i32.const 24)))
              (local.get $s))
            (local.set $node (i32.add (local.get $node) (i32.const 96)))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $cell)))
    (i32.store (i32.const 4) (local.get $node)))

;; Levels 1 … $bits above the leaves: each node the run of nodes below whose codes agree but
  ;; for their last 2 bits ($codes: the codes of the level below, replaced by the level's own).
  (func $parents (param $bits i32) (param $codes i32)
    (local $l i32) (local $i i32) (local $count i32) (local $base i32) (local $child i32)
    (local $node i32) (local $code i32) (local $parents i32)
    (local $w f64) (local $square f64) (local $sx f64) (local $sy f64)
    (local $lowX f64) (local $lowY f64) (local $highX f64) (local $highY f64)
    (local.set $l (i32.const 1))
    (block $done
      (loop $level
        (br_if $done (i32.gt_u (local.get $l) (local.get $bits)))
        (local.set $base (i32.load (i32.shl (i32.sub (local.get $l) (i32.const 1)) (i32.const 2))))
        (local.set $node (i32.load (i32.shl (local.get $l) (i32.const 2))))
        (local.set $count (i32.div_u (i32.sub (local.get $node) (local.get $base)) (i32.const 96)))
        (local.set $i (i32.const 0))
        (local.set $parents (i32.const 0))
        (loop $parent
          (local.set $code (i32.shr_u
            (i32.load (i32.add (local.get $codes) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 2)))
          (local.set $child (i32.add (local.get $base) (i32.mul (local.get $i) (i32.const 96))))
          (i32.store offset=80 (local.get $node) (local.get $i))
          (i32.store offset=88 (local.get $node) (i32.load offset=88 (local.get $child)))
          (local.set $w (f64.const 0))
          (local.set $square (f64.const 0))
          (local.set $sx (f64.const 0))
          (local.set $sy (f64.const 0))
          (local.set $lowX (f64.const inf))
          (local.set $lowY (f64.const inf))
          (local.set $highX (f64.const -inf))
          (local.set $highY (f64.const -inf))
          (loop $children
            (local.set $w (f64.add (local.get $w) (f64.load offset=64 (local.get $child))))
            (local.set $square (f64.add (local.get $square) (f64.load offset=72 (local.get $child))))
            (local.set $sx (f64.add (local.get $sx) (f64.load offset=48 (local.get $child))))
            (local.set $sy (f64.add (local.get $sy) (f64.load offset=56 (local.get $child))))
            (local.set $lowX (f64.min (local.get $lowX) (f64.load offset=16 (local.get $child))))
            (local.set $lowY (f64.min (local.get $lowY) (f64.load offset=24 (local.get $child))))
            (local.set $highX (f64.max (local.get $highX) (f64.load offset=32 (local.get $child))))
            (local.set $highY (f64.max (local.get $highY) (f64.load offset=40 (local.get $child))))
            (i32.store offset=92 (local.get $node) (i32.load offset=92 (local.get $child)))
            (local.set $child (i32.add (local.get $child) (i32.const 96)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $children (i32.and
              (i32.lt_u (local.get $i) (local.get $count))
              (i32.eq (local.get $code) (i32.shr_u
                (i32.load (i32.add (local.get $codes) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 2))))))
          (i32.store offset=84 (local.get $node) (local.get $i))
          (f64.store (local.get $node) (f64.div (local.get $sx) (local.get $w)))
          (f64.store offset=8 (local.get $node) (f64.div (local.get $sy) (local.get $w)))
          (f64.store offset=16 (local.get $node) (local.get $lowX))
          (f64.store offset=24 (local.get $node) (local.get $lowY))
          (f64.store offset=32 (local.get $node) (local.get $highX))
          (f64.store offset=40 (local.get $node) (local.get $highY))
          (f64.store offset=48 (local.get $node) (local.get $sx))
          (f64.store offset=56 (local.get $node) (local.get $sy))
          (f64.store offset=64 (local.get $node) (local.get $w))
          (f64.store offset=72 (local.get $node) (local.get $square))
          ;; Codes below are read ahead of this write (a parent is never after its first child).
          (i32.store (i32.add (local.get $codes) (i32.shl (local.get $parents) (i32.const 2))) (local.get $code))
          (local.set $parents (i32.add (local.get $parents) (i32.const 1)))
          (local.set $node (i32.add (local.get $node) (i32.const 96)))
          (br_if $parent (i32.lt_u (local.get $i) (local.get $count))))
        (i32.store offset=4 (i32.shl (local.get $l) (i32.const 2)) (local.get $node))
        (local.set $l (i32.add (local.get $l) (i32.const 1)))
        (br $level))))

  ;; Node record $node joins cluster $j as a whole.
  (func $join (param $node i32) (param $j i32)
    (local $q i32) (local $end i32)
    (f64.store offset=6272 (i32.shl (local.get $j) (i32.const 3))
      (f64.add (f64.load offset=6272 (i32.shl (local.get $j) (i32.const 3)))
        (f64.load offset=64 (local.get $node))))
    (f64.store offset=12416 (i32.shl (local.get $j) (i32.const 3))
      (f64.add (f64.load offset=12416 (i32.shl (local.get $j) (i32.const 3)))
        (f64.load offset=72 (local.get $node))))
    (f64.store offset=8320 (i32.shl (local.get $j) (i32.const 4))
      (f64.add (f64.load offset=8320 (i32.shl (local.get $j) (i32.const 4)))
        (f64.load offset=48 (local.get $node))))
    (f64.store offset=8328 (i32.shl (local.get $j) (i32.const 4))
      (f64.add (f64.load offset=8328 (i32.shl (local.get $j) (i32.const 4)))
        (f64.load offset=56 (local.get $node))))
    (if (global.get $labels)
      (then
        (local.set $q (i32.load offset=88 (local.get $node)))
        (local.set $end (i32.load offset=92 (local.get $node)))
        (block $done
          (loop $point
            (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
            (i32.store8
              (i32.add (global.get $labels)
                (i32.load (i32.add (global.get $order) (i32.shl (local.get $q) (i32.const 2)))))
              (local.get $j))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $point))))))

  ;; Node record $node of level $l with the $count candidates at candidate index $offset.
  (func $visit (param $l i32) (param $node i32) (param $offset i32) (param $count i32)
    (local $c i32) (local $end i32) (local $j i32) (local $best i32) (local $label i32)
    (local $kept i32) (local $keptCount i32) (local $child i32) (local $childEnd i32)
    (local $below i32) (local $q i32) (local $at i32)
    (local $lowX f64) (local $lowY f64) (local $highX f64) (local $highY f64)
    (local $x f64) (local $y f64) (local $dx f64) (local $dy f64) (local $d f64) (local $nearest f64)
    (local $bestX f64) (local $bestY f64) (local $bestNorm f64) (local $norm f64)
    (local $u f64) (local $v f64) (local $a f64) (local $b f64) (local $scale f64) (local $square f64)
    (if (i32.eq (local.get $count) (i32.const 1))
      (then
        (call $join (local.get $node)
          (i32.load offset=14464 (i32.shl (local.get $offset) (i32.const 2))))
        (return)))
    ;; The candidate nearest the node's mean (the first of equals).
    (local.set $x (f64.load (local.get $node)))
    (local.set $y (f64.load offset=8 (local.get $node)))
    (local.set $best (i32.load offset=14464 (i32.shl (local.get $offset) (i32.const 2))))
    (local.set $nearest (f64.const inf))
    (local.set $end (i32.add (local.get $offset) (local.get $count)))
    (local.set $c (local.get $offset))
    (loop $scan
      (local.set $j (i32.load offset=14464 (i32.shl (local.get $c) (i32.const 2))))
      (local.set $dx (f64.sub (local.get $x) (f64.load offset=128 (i32.shl (local.get $j) (i32.const 4)))))
      (local.set $dy (f64.sub (local.get $y) (f64.load offset=136 (i32.shl (local.get $j) (i32.const 4)))))
      (local.set $d (f64.add (f64.mul (local.get $dx) (local.get $dx)) (f64.mul (local.get $dy) (local.get $dy))))
      (if (f64.lt (local.get $d) (local.get $nearest))
        (then
          (local.set $nearest (local.get $d))
          (local.set $best (local.get $j))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $scan (i32.lt_u (local.get $c) (local.get $end))))
    (if (i32.eq (local.get $l) (global.get $atom))
      (then
        (call $join (local.get $node) (local.get $best))
        (return)))
    ;; The candidates some point of the box may be nearer to than to $best.
    (local.set $bestX (f64.load offset=128 (i32.shl (local.get $best) (i32.const 4))))
    (local.set $bestY (f64.load offset=136 (i32.shl (local.get $best) (i32.const 4))))
    (local.set $bestNorm (f64.load offset=4224 (i32.shl (local.get $best) (i32.const 3))))
    (local.set $lowX (f64.load offset=16 (local.get $node)))
    (local.set $lowY (f64.load offset=24 (local.get $node)))
    (local.set $highX (f64.load offset=32 (local.get $node)))
    (local.set $highY (f64.load offset=40 (local.get $node)))
    (local.set $kept (i32.add (local.get $offset) (global.get $k)))
    (local.set $c (local.get $offset))
    (loop $filter
      (local.set $j (i32.load offset=14464 (i32.shl (local.get $c) (i32.const 2))))
      (block $drop
        (if (i32.ne (local.get $j) (local.get $best))
          (then
            (local.set $u (f64.sub (f64.load offset=128 (i32.shl (local.get $j) (i32.const 4))) (local.get $bestX)))
            (local.set $v (f64.sub (f64.load offset=136 (i32.shl (local.get $j) (i32.const 4))) (local.get $bestY)))
            (local.set $a (f64.mul
              (select (local.get $highX) (local.get $lowX)
                (f64.gt (local.get $u) (f64.const 0)))
              (local.get $u)))
            (local.set $b (f64.mul
              (select (local.get $highY) (local.get $lowY)
                (f64.gt (local.get $v) (f64.const 0)))
              (local.get $v)))
            (local.set $scale (f64.add (f64.abs (local.get $a)) (f64.abs (local.get $b))))
            (local.set $norm (f64.load offset=4224 (i32.shl (local.get $j) (i32.const 3))))
            ;; 2 (a + b) < ‖c_j‖² − ‖c_best‖² − SLACK (2 scale + ‖c_j‖² + ‖c_best‖²): dominated.
            (br_if $drop (f64.lt
              (f64.mul (f64.const 2) (f64.add (local.get $a) (local.get $b)))
              (f64.sub
                (f64.sub (local.get $norm) (local.get $bestNorm))
                (f64.mul (f64.const 1e-12)
                  (f64.add
                    (f64.add (f64.mul (f64.const 2) (local.get $scale)) (local.get $norm))
                    (local.get $bestNorm))))))))
        (i32.store offset=14464
          (i32.shl (i32.add (local.get $kept) (local.get $keptCount)) (i32.const 2))
          (local.get $j))
        (local.set $keptCount (i32.add (local.get $keptCount) (i32.const 1))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $filter (i32.lt_u (local.get $c) (local.get $end))))
    (if (i32.eq (local.get $keptCount) (i32.const 1))
      (then
        (call $join (local.get $node) (local.get $best))
        (return)))
    (if (i32.gt_s (local.get $l) (i32.const 0))
      (then
        (local.set $below (i32.load (i32.shl (i32.sub (local.get $l) (i32.const 1)) (i32.const 2))))
        (local.set $child (i32.load offset=80 (local.get $node)))
        (local.set $childEnd (i32.load offset=84 (local.get $node)))
        (block $done
          (loop $children
            (br_if $done (i32.ge_u (local.get $child) (local.get $childEnd)))
            (call $visit (i32.sub (local.get $l) (i32.const 1))
              (i32.add (local.get $below) (i32.mul (local.get $child) (i32.const 96)))
              (local.get $kept) (local.get $keptCount))
            (local.set $child (i32.add (local.get $child) (i32.const 1)))
            (br $children)))
        (return)))
    ;; A leaf straddling a boundary joins $best, and the points nearer another candidate move.
    (call $join (local.get $node) (local.get $best))
    (local.set $end (i32.add (local.get $kept) (local.get $keptCount)))
    (local.set $q (i32.load offset=88 (local.get $node)))
    (block $points
      (loop $point
        (br_if $points (i32.ge_u (local.get $q) (i32.load offset=92 (local.get $node))))
        (local.set $at (i32.add (global.get $sorted) (i32.shl (local.get $q) (i32.const 4))))
        (local.set $x (f64.load (local.get $at)))
        (local.set $y (f64.load offset=8 (local.get $at)))
        (local.set $label (i32.load offset=14464 (i32.shl (local.get $kept) (i32.const 2))))
        (local.set $nearest (f64.const inf))
        (local.set $c (local.get $kept))
        (loop $scan
          (local.set $j (i32.load offset=14464 (i32.shl (local.get $c) (i32.const 2))))
          (local.set $dx (f64.sub (local.get $x) (f64.load offset=128 (i32.shl (local.get $j) (i32.const 4)))))
          (local.set $dy (f64.sub (local.get $y) (f64.load offset=136 (i32.shl (local.get $j) (i32.const 4)))))
          (local.set $d (f64.add (f64.mul (local.get $dx) (local.get $dx)) (f64.mul (local.get $dy) (local.get $dy))))
          (if (f64.lt (local.get $d) (local.get $nearest))
            (then
              (local.set $nearest (local.get $d))
              (local.set $label (local.get $j))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br_if $scan (i32.lt_u (local.get $c) (local.get $end))))
        (if (i32.ne (local.get $label) (local.get $best))
          (then
            (f64.store offset=6272 (i32.shl (local.get $best) (i32.const 3))
              (f64.sub (f64.load offset=6272 (i32.shl (local.get $best) (i32.const 3))) (f64.const 1)))
            (f64.store offset=6272 (i32.shl (local.get $label) (i32.const 3))
              (f64.add (f64.load offset=6272 (i32.shl (local.get $label) (i32.const 3))) (f64.const 1)))
            (f64.store offset=8320 (i32.shl (local.get $best) (i32.const 4))
              (f64.sub (f64.load offset=8320 (i32.shl (local.get $best) (i32.const 4))) (local.get $x)))
            (f64.store offset=8320 (i32.shl (local.get $label) (i32.const 4))
              (f64.add (f64.load offset=8320 (i32.shl (local.get $label) (i32.const 4))) (local.get $x)))
            (f64.store offset=8328 (i32.shl (local.get $best) (i32.const 4))
              (f64.sub (f64.load offset=8328 (i32.shl (local.get $best) (i32.const 4))) (local.get $y)))
            (f64.store offset=8328 (i32.shl (local.get $label) (i32.const 4))
              (f64.add (f64.load offset=8328 (i32.shl (local.get $label) (i32.const 4))) (local.get $y)))
            (local.set $square (f64.add (f64.mul (local.get $x) (local.get $x)) (f64.mul (local.get $y) (local.get $y))))
            (f64.store offset=12416 (i32.shl (local.get $best) (i32.const 3))
              (f64.sub (f64.load offset=12416 (i32.shl (local.get $best) (i32.const 3))) (local.get $square)))
            (f64.store offset=12416 (i32.shl (local.get $label) (i32.const 3))
              (f64.add (f64.load offset=12416 (i32.shl (local.get $label) (i32.const 3))) (local.get $square)))
            (if (global.get $labels)
              (then
                (i32.store8
                  (i32.add (global.get $labels)
                    (i32.load (i32.add (global.get $order) (i32.shl (local.get $q) (i32.const 2)))))
                  (local.get $label))))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $point)))))
