;; Lloyd's assignment step of vector k-means (see ../palettize/vector-kmeans.ts, which owns the
;; algorithm): each point's nearest centroid, two points at a time in float64 lanes, with the
;; scalar formula Σ (x − c)² in coordinate order and ties to the first centroid, so the labels
;; are those of the JavaScript loops (which branch on an unpredictable compare: 5–10× slower).
;; Assembled by `npm run gen:wasm`.
(module
  (memory (export "memory") 1)

  ;; label2 / label4: points (n × dim f64, row-major) at $points, centroids at $centroids as
  ;; k × dim splatted f64x2 (each coordinate in both lanes), one label byte per point to $labels.
  ;; label2 takes four points at a time, in two pairs whose running minima are independent (one
  ;; pair's compare-and-select chain alone leaves the core waiting: 1.5–2× slower).
  (func (export "label2") (param $points i32) (param $n i32) (param $centroids i32) (param $k i32) (param $labels i32)
    (local $p i32) (local $c i32) (local $end i32) (local $last i32)
    (local $a v128) (local $b v128) (local $cx v128) (local $cy v128) (local $dx v128) (local $dy v128)
    (local $x v128) (local $y v128) (local $d v128) (local $best v128) (local $label v128) (local $closer v128)
    (local $x2 v128) (local $y2 v128) (local $d2 v128) (local $best2 v128) (local $label2 v128) (local $closer2 v128)
    (local $j v128)
    (local.set $end (i32.add (local.get $centroids) (i32.shl (local.get $k) (i32.const 5))))
    (local.set $last (i32.sub (local.get $n) (i32.const 1)))
    (block $done
      (loop $quad
        (br_if $done (i32.ge_s (local.get $p) (local.get $n)))
        ;; Points p … p + 3 (the last again past it), as (x_p, x_p+1), (y_p, y_p+1) and the same
        ;; for p + 2, p + 3.
        (local.set $a (v128.load (i32.add (local.get $points) (i32.shl (local.get $p) (i32.const 4)))))
        (local.set $b (v128.load (i32.add (local.get $points) (i32.shl
          (select (i32.add (local.get $p) (i32.const 1)) (local.get $last)
            (i32.lt_s (i32.add (local.get $p) (i32.const 1)) (local.get $last)))
          (i32.const 4)))))
        (local.set $x (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b)))
        (local.set $y (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b)))
        (local.set $a (v128.load (i32.add (local.get $points) (i32.shl
          (select (i32.add (local.get $p) (i32.const 2)) (local.get $last)
            (i32.lt_s (i32.add (local.get $p) (i32.const 2)) (local.get $last)))
          (i32.const 4)))))
        (local.set $b (v128.load (i32.add (local.get $points) (i32.shl
          (select (i32.add (local.get $p) (i32.const 3)) (local.get $last)
            (i32.lt_s (i32.add (local.get $p) (i32.const 3)) (local.get $last)))
          (i32.const 4)))))
        (local.set $x2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b)))
        (local.set $y2 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b)))
        (local.set $best (f64x2.splat (f64.const inf)))
        (local.set $best2 (f64x2.splat (f64.const inf)))
        (local.set $label (i64x2.splat (i64.const 0)))
        (local.set $label2 (i64x2.splat (i64.const 0)))
        (local.set $j (i64x2.splat (i64.const 0)))
        (local.set $c (local.get $centroids))
        (block $scanned
          (loop $centroid
            (br_if $scanned (i32.ge_u (local.get $c) (local.get $end)))
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
            (br $centroid)))
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

  (func (export "label4") (param $points i32) (param $n i32) (param $centroids i32) (param $k i32) (param $labels i32)
    (local $p i32) (local $at i32) (local $next i32) (local $c i32) (local $end i32) (local $last i32)
    (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $e v128) (local $d v128) (local $best v128) (local $label v128) (local $j v128) (local $closer v128)
    (local.set $end (i32.add (local.get $centroids) (i32.shl (local.get $k) (i32.const 6))))
    (local.set $last (i32.sub (local.get $n) (i32.const 1)))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_s (local.get $p) (local.get $n)))
        (local.set $at (i32.add (local.get $points) (i32.shl (local.get $p) (i32.const 5))))
        (local.set $next (select
          (i32.add (local.get $at) (i32.const 32))
          (local.get $at)
          (i32.lt_s (local.get $p) (local.get $last))))
        (local.set $a0 (v128.load (local.get $at)))
        (local.set $a1 (v128.load offset=16 (local.get $at)))
        (local.set $b0 (v128.load (local.get $next)))
        (local.set $b1 (v128.load offset=16 (local.get $next)))
        (local.set $x0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $b0)))
        (local.set $x1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $b0)))
        (local.set $x2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a1) (local.get $b1)))
        (local.set $x3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a1) (local.get $b1)))
        (local.set $best (f64x2.splat (f64.const inf)))
        (local.set $label (i64x2.splat (i64.const 0)))
        (local.set $j (i64x2.splat (i64.const 0)))
        (local.set $c (local.get $centroids))
        (block $scanned
          (loop $centroid
            (br_if $scanned (i32.ge_u (local.get $c) (local.get $end)))
            ;; ((e0² + e1²) + e2²) + e3², the order of the scalar loop.
            (local.set $e (f64x2.sub (local.get $x0) (v128.load (local.get $c))))
            (local.set $d (f64x2.mul (local.get $e) (local.get $e)))
            (local.set $e (f64x2.sub (local.get $x1) (v128.load offset=16 (local.get $c))))
            (local.set $d (f64x2.add (local.get $d) (f64x2.mul (local.get $e) (local.get $e))))
            (local.set $e (f64x2.sub (local.get $x2) (v128.load offset=32 (local.get $c))))
            (local.set $d (f64x2.add (local.get $d) (f64x2.mul (local.get $e) (local.get $e))))
            (local.set $e (f64x2.sub (local.get $x3) (v128.load offset=48 (local.get $c))))
            (local.set $d (f64x2.add (local.get $d) (f64x2.mul (local.get $e) (local.get $e))))
            (local.set $closer (f64x2.lt (local.get $d) (local.get $best)))
            (local.set $best (v128.bitselect (local.get $d) (local.get $best) (local.get $closer)))
            (local.set $label (v128.bitselect (local.get $j) (local.get $label) (local.get $closer)))
            (local.set $j (i64x2.add (local.get $j) (i64x2.splat (i64.const 1))))
            (local.set $c (i32.add (local.get $c) (i32.const 64)))
            (br $centroid)))
        (i32.store8 (i32.add (local.get $labels) (local.get $p)) (i32.wrap_i64 (i64x2.extract_lane 0 (local.get $label))))
        (if (i32.lt_s (local.get $p) (local.get $last))
          (then (i32.store8 offset=1 (i32.add (local.get $labels) (local.get $p))
            (i32.wrap_i64 (i64x2.extract_lane 1 (local.get $label))))))
        (local.set $p (i32.add (local.get $p) (i32.const 2)))
        (br $pair)))))
