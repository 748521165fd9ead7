;; One layer of the exact 1-D k-means program (see ../palettize/kmeans1d.ts, which owns the
;; algorithm; LayerSolver.fill there is the same divide and conquer in JavaScript). Candidates
;; are scanned two at a time in float64 lanes with exactly the scalar formula and operation
;; order, and ties go to the first candidate, so the results are bit-identical. Assembled by
;; `npm run gen:wasm`.
(module
  (memory (export "memory") 1)

  ;; Byte addresses of the solver's arrays (f64: w, s, s2 prefix sums, costs of the layer below
  ;; and of this one; u32: split), set by the caller.
  (global $w (export "w") (mut i32) (i32.const 0))
  (global $s (export "s") (mut i32) (i32.const 0))
  (global $s2 (export "s2") (mut i32) (i32.const 0))
  (global $previous (export "previous") (mut i32) (i32.const 0))
  (global $current (export "current") (mut i32) (i32.const 0))
  (global $split (export "split") (mut i32) (i32.const 0))
  ;; Index in split of this layer's first entry, and of one layer (points per layer).
  (global $row (export "row") (mut i32) (i32.const 0))
  (global $stride (export "stride") (mut i32) (i32.const 0))
  ;; End points the layer below holds costs for; `outside` is set to 1 when a scan needs one
  ;; outside them. Starts past solved_to + 1 are not scanned, which is right only when the best
  ;; cost found is more than `margin` under the layer below's cost at solved_to.
  (global $solved_from (export "solvedFrom") (mut i32) (i32.const 0))
  (global $solved_to (export "solvedTo") (mut i32) (i32.const 0))
  (global $margin (export "margin") (mut f64) (f64.const 0))
  (global $outside (export "outside") (mut i32) (i32.const 0))

  ;; Fills layer m for end points lo..hi, knowing their last runs start in opt_lo..opt_hi:
  ;; solve the middle end point, then each side with the candidates it leaves (recursing into
  ;; the lower side, never the larger, and looping on the upper).
  (func $fill (export "fill") (param $m i32) (param $lo i32) (param $hi i32) (param $opt_lo i32) (param $opt_hi i32)
    (local $mid i32) (local $lower i32) (local $first i32) (local $last i32) (local $best_j i32)
    (local $capped i32) (local $bound f64)
    (local $j i32) (local $w_end v128) (local $s_end v128) (local $s2_end v128)
    (local $weight v128) (local $sum v128) (local $mu v128) (local $cost v128) (local $better v128)
    (local $best v128) (local $best_jv v128) (local $index v128)
    (local $other v128) (local $other_j v128) (local $cost0 f64) (local $j0 f64) (local $c f64) (local $mean f64)
    (local $ws f64) (local $ss f64)
    (local.set $bound (f64.sub
      (f64.load (i32.add (global.get $previous) (i32.shl (global.get $solved_to) (i32.const 3))))
      (global.get $margin)))
    (block $done
      (loop $next
        (br_if $done (i32.gt_s (local.get $lo) (local.get $hi)))
        (local.set $mid (i32.shr_u (i32.add (local.get $lo) (local.get $hi)) (i32.const 1)))
        ;; With one run fewer, the last run of 0..mid starts no later.
        (local.set $lower
          (if (result i32) (i32.and (i32.gt_u (local.get $m) (i32.const 1))
                (i32.le_s (local.get $mid) (global.get $solved_to)))
            (then
              (i32.load (i32.add (global.get $split)
                (i32.shl (i32.add (i32.sub (global.get $row) (global.get $stride)) (local.get $mid)) (i32.const 2)))))
            (else (local.get $m))))
        (local.set $first
          (select (local.get $opt_lo) (local.get $lower) (i32.gt_s (local.get $opt_lo) (local.get $lower))))
        (if (i32.le_s (local.get $first) (global.get $solved_from))
          (then (global.set $outside (i32.const 1))))
        (local.set $last
          (select (local.get $mid) (local.get $opt_hi) (i32.lt_s (local.get $mid) (local.get $opt_hi))))
        (local.set $capped (i32.gt_s (local.get $last) (i32.add (global.get $solved_to) (i32.const 1))))
        (if (local.get $capped)
          (then (local.set $last (i32.add (global.get $solved_to) (i32.const 1)))))
        ;; The best start j in first..last of the last run of 0..mid, and its cost, to current[mid].
        ;; Cost of start j: previous[j - 1] + (s2End - s2[j] + weight·(mu·mu) - 2·mu·sum), with
        ;; weight = wEnd - w[j], sum = sEnd - s[j], mu = sum / weight; two candidates per pair of
        ;; lanes (inline: rows are short, a call per row costs).
        (local.set $w_end (v128.load64_splat (i32.add (global.get $w) (i32.shl (i32.add (local.get $mid) (i32.const 1)) (i32.const 3)))))
        (local.set $s_end (v128.load64_splat (i32.add (global.get $s) (i32.shl (i32.add (local.get $mid) (i32.const 1)) (i32.const 3)))))
        (local.set $s2_end (v128.load64_splat (i32.add (global.get $s2) (i32.shl (i32.add (local.get $mid) (i32.const 1)) (i32.const 3)))))
        (local.set $best (f64x2.splat (f64.const inf)))
        (local.set $best_jv (f64x2.splat (f64.convert_i32_u (local.get $first))))
        (local.set $index (f64x2.replace_lane 1 (f64x2.splat (f64.convert_i32_u (local.get $first)))
          (f64.convert_i32_u (i32.add (local.get $first) (i32.const 1)))))
        (local.set $j (local.get $first))
        (block $pairs_done
          (loop $pairs
            (br_if $pairs_done (i32.ge_s (local.get $j) (local.get $last)))
            (local.set $weight (f64x2.sub (local.get $w_end)
              (v128.load (i32.add (global.get $w) (i32.shl (local.get $j) (i32.const 3))))))
            (local.set $sum (f64x2.sub (local.get $s_end)
              (v128.load (i32.add (global.get $s) (i32.shl (local.get $j) (i32.const 3))))))
            (local.set $mu (f64x2.div (local.get $sum) (local.get $weight)))
            (local.set $cost
              (f64x2.add
                (v128.load (i32.add (global.get $previous) (i32.shl (i32.sub (local.get $j) (i32.const 1)) (i32.const 3))))
                (f64x2.sub
                  (f64x2.add
                    (f64x2.sub (local.get $s2_end)
                      (v128.load (i32.add (global.get $s2) (i32.shl (local.get $j) (i32.const 3)))))
                    (f64x2.mul (local.get $weight) (f64x2.mul (local.get $mu) (local.get $mu))))
                  (f64x2.mul (f64x2.mul (f64x2.splat (f64.const 2)) (local.get $mu)) (local.get $sum)))))
            (local.set $better (f64x2.lt (local.get $cost) (local.get $best)))
            (local.set $best (v128.bitselect (local.get $cost) (local.get $best) (local.get $better)))
            (local.set $best_jv (v128.bitselect (local.get $index) (local.get $best_jv) (local.get $better)))
            (local.set $index (f64x2.add (local.get $index) (f64x2.splat (f64.const 2))))
            (local.set $j (i32.add (local.get $j) (i32.const 2)))
            (br $pairs)))
        ;; Lanes: even and odd offsets from `first`; the lower cost wins, on a tie the lower index.
        ;; Merged without branches: each lane is compared with the other (swapped) and lane 0 kept.
        (local.set $other (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $best) (local.get $best)))
        (local.set $other_j (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $best_jv) (local.get $best_jv)))
        (local.set $better (v128.or (f64x2.lt (local.get $other) (local.get $best))
          (v128.and (f64x2.eq (local.get $other) (local.get $best)) (f64x2.lt (local.get $other_j) (local.get $best_jv)))))
        (local.set $cost0 (f64x2.extract_lane 0 (v128.bitselect (local.get $other) (local.get $best) (local.get $better))))
        (local.set $j0 (f64x2.extract_lane 0 (v128.bitselect (local.get $other_j) (local.get $best_jv) (local.get $better))))
        ;; An odd count leaves one candidate, the last.
        (if (i32.eq (local.get $j) (local.get $last))
          (then
            (local.set $ws (f64.sub (f64x2.extract_lane 0 (local.get $w_end))
              (f64.load (i32.add (global.get $w) (i32.shl (local.get $j) (i32.const 3))))))
            (local.set $ss (f64.sub (f64x2.extract_lane 0 (local.get $s_end))
              (f64.load (i32.add (global.get $s) (i32.shl (local.get $j) (i32.const 3))))))
            (local.set $mean (f64.div (local.get $ss) (local.get $ws)))
            (local.set $c
              (f64.add
                (f64.load (i32.add (global.get $previous) (i32.shl (i32.sub (local.get $j) (i32.const 1)) (i32.const 3))))
                (f64.sub
                  (f64.add
                    (f64.sub (f64x2.extract_lane 0 (local.get $s2_end))
                      (f64.load (i32.add (global.get $s2) (i32.shl (local.get $j) (i32.const 3)))))
                    (f64.mul (local.get $ws) (f64.mul (local.get $mean) (local.get $mean))))
                  (f64.mul (f64.mul (f64.const 2) (local.get $mean)) (local.get $ss)))))
            (if (f64.lt (local.get $c) (local.get $cost0))
              (then (local.set $cost0 (local.get $c)) (local.set $j0 (f64.convert_i32_u (local.get $j)))))))
        (f64.store (i32.add (global.get $current) (i32.shl (local.get $mid) (i32.const 3))) (local.get $cost0))
        (local.set $best_j (i32.trunc_f64_u (local.get $j0)))
        (if (i32.and (local.get $capped)
              (i32.eqz (f64.lt (f64.load (i32.add (global.get $current) (i32.shl (local.get $mid) (i32.const 3))))
                (local.get $bound))))
          (then (global.set $outside (i32.const 1))))
        (i32.store (i32.add (global.get $split) (i32.shl (i32.add (global.get $row) (local.get $mid)) (i32.const 2)))
          (local.get $best_j))
        (if (i32.lt_s (local.get $lo) (local.get $mid))
          (then
            (call $fill (local.get $m) (local.get $lo) (i32.sub (local.get $mid) (i32.const 1))
              (local.get $opt_lo) (local.get $best_j))))
        (local.set $lo (i32.add (local.get $mid) (i32.const 1)))
        (local.set $opt_lo (local.get $best_j))
        (br $next))))
)
