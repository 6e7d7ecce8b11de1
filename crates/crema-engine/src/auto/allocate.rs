//! The title-level allocation of `sophon-auto`'s verified path
//! ([`super::verified`]): which CRF each chunk gets, or which of its
//! measured versions it keeps, so that the frame-weighted title mean VMAF
//! reaches a goal at the fewest bytes while every chunk stays above a floor.
//!
//! Equalizing every chunk to the target is not that allocation: on a title
//! of five different shots it cost 14% more bytes than one CRF for the
//! whole title (docs/benchmarks.md, "A title whose content changes"). The
//! bytes a mean costs are least when the marginal bytes per VMAF point are
//! equal across chunks (the Lagrangian condition; one CRF is close to it
//! for x265, whose rate control keeps the rate-distortion slope about
//! constant at one CRF). This module finds that allocation over each
//! chunk's options by bisecting the multiplier λ (bytes per VMAF point per
//! frame): for a given λ every chunk independently takes the option that
//! minimizes `bytes − λ · frames · vmaf`, and a larger λ never lowers any
//! chunk's VMAF, so the smallest λ whose picks reach the goal is found by
//! bisection; a greedy pass then drops back to cheaper options while the
//! goal still holds.
//!
//! Between and beyond measured points a chunk's curve is modelled in the
//! log domain, where x265 is close to linear: `ln(bytes)` falls and
//! `ln(100 − VMAF)` rises linearly with CRF. On the benchmark's 49 s title
//! at 854×480 (CRF 20/24/28/32, docs/benchmarks.md) the byte slope measured
//! 0.132–0.142 per CRF step and the distortion slope 0.091–0.107; between
//! CRF 24 and 28 on the corpus's 720p and 480p 2 s clips the distortion
//! slope was 0.155, on the phone clip 0.106, and on the bikes shot 0.16.
//! One point assumes 0.14 and 0.13.

/// One measured encode of a chunk: CRF, in-loop VMAF mean (0..100), bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) crf: f64,
    pub(crate) vmaf: f64,
    pub(crate) bytes: f64,
}

/// What a chunk's measured points say, with the title's frames it holds.
#[derive(Debug, Clone)]
pub(crate) struct Curve {
    /// Measured encodes, in the order they were made.
    pub(crate) points: Vec<Point>,
    /// Source frames in the chunk: its weight in the title mean.
    pub(crate) frames: f64,
}

/// What the allocation must reach (VMAF, 0..100).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Goal {
    /// The frame-weighted mean of the chunks' means.
    pub(crate) mean: f64,
    /// Every chunk's own mean, where any option of the chunk reaches it.
    pub(crate) floor: f64,
}

/// How a planned encode is priced against a kept measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pricing {
    /// VMAF points taken off a predicted score: a measurement is trusted,
    /// a prediction from the model is not, as much.
    pub(crate) prediction_discount: f64,
    /// An encode costs this share of the chunk's first measured bytes on
    /// top of its predicted bytes: a re-encode that saves less is not made.
    pub(crate) encode_cost: f64,
}

/// A chunk's part of a plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pick {
    /// Keep the measured version at this index of [`Curve::points`].
    Measured(usize),
    /// Encode the chunk at this CRF.
    Encode(f64),
}

/// Slope of `ln(bytes)` per CRF step assumed with one point, and the range
/// a measured one is clamped to.
const BYTE_SLOPE: (f64, (f64, f64)) = (0.14, (0.06, 0.25));
/// Slope of `ln(100 − VMAF)` per CRF step assumed with one point, and the
/// range a measured one is clamped to.
const DISTORTION_SLOPE: (f64, (f64, f64)) = (0.13, (0.03, 0.3));
/// `100 − VMAF` never modelled below this: VMAF saturates near 100, where
/// the log-domain line fails (a chunk of the corpus's street clip scored
/// 99.48 at CRF 21.5, and the line through that point at the assumed slope
/// predicted 94.2 at CRF 40, where it scored 80.4).
const MIN_DISTORTION: f64 = 1.0;
/// A plan encodes at most this many CRF steps from the chunk's nearest
/// measured point: the model is a local one.
pub(crate) const MAX_STEP: f64 = 6.0;
/// CRFs a plan may use, on a grid of half steps.
pub(crate) const CRF_RANGE: (f64, f64) = (10.0, 40.0);

impl Curve {
    /// The chunk's predicted (VMAF, bytes) at `crf`: between two measured
    /// points the log-domain line through them, beyond them the line
    /// through the nearest (its slope clamped; the assumed slopes with a
    /// single point). `None` without points.
    pub(crate) fn predict(&self, crf: f64) -> Option<(f64, f64)> {
        let mut pts: Vec<(f64, f64, f64)> = self
            .points
            .iter()
            .map(|p| (p.crf, (100.0 - p.vmaf).max(MIN_DISTORTION).ln(), p.bytes.max(1.0).ln()))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-9);
        let (d, b) = match pts.as_slice() {
            [] => return None,
            [p] => (p.1 + DISTORTION_SLOPE.0 * (crf - p.0), p.2 - BYTE_SLOPE.0 * (crf - p.0)),
            _ => {
                let i = pts.windows(2).position(|w| crf <= w[1].0).unwrap_or(pts.len() - 2);
                let (lo, hi) = (pts[i], pts[i + 1]);
                let (ds, bs) = ((hi.1 - lo.1) / (hi.0 - lo.0), (lo.2 - hi.2) / (hi.0 - lo.0));
                if crf < lo.0 || crf > hi.0 {
                    let end = if crf < lo.0 { lo } else { hi };
                    let ds = ds.clamp(DISTORTION_SLOPE.1.0, DISTORTION_SLOPE.1.1);
                    let bs = bs.clamp(BYTE_SLOPE.1.0, BYTE_SLOPE.1.1);
                    (end.1 + ds * (crf - end.0), end.2 - bs * (crf - end.0))
                } else {
                    (lo.1 + ds * (crf - lo.0), lo.2 - bs * (crf - lo.0))
                }
            }
        };
        Some((100.0 - d.exp(), b.exp()))
    }
}

/// One option of one chunk: its VMAF as the allocation counts it, its cost
/// in bytes, and what taking it means.
#[derive(Debug, Clone, Copy)]
struct Opt {
    vmaf: f64,
    cost: f64,
    pick: Pick,
}

/// The one CRF (half steps, [`CRF_RANGE`]) at which the chunks' predicted
/// frame-weighted mean reaches `mean`: the loosest that does, else the
/// strictest. `None` without points.
pub(crate) fn one_crf(curves: &[Curve], mean: f64) -> Option<f64> {
    let weight: f64 = curves.iter().map(|c| c.frames).sum();
    let at = |crf: f64| -> Option<f64> {
        let mut sum = 0.0;
        for c in curves {
            sum += c.predict(crf)?.0 * c.frames;
        }
        Some(sum / weight.max(1e-9))
    };
    let grid = crf_grid();
    at(grid[0])?;
    Some(grid.iter().rev().copied().find(|&c| at(c).is_some_and(|m| m >= mean)).unwrap_or(grid[0]))
}

fn crf_grid() -> Vec<f64> {
    let steps = ((CRF_RANGE.1 - CRF_RANGE.0) * 2.0).round() as usize;
    (0..=steps).map(|i| CRF_RANGE.0 + i as f64 * 0.5).collect()
}

/// The plan of one repair round: per chunk, keep a measured version or
/// encode at a CRF of the half-step grid not already measured and at most
/// [`MAX_STEP`] from a measured one, priced by
/// `pricing`, so that the title reaches `goal` at the fewest bytes. When no
/// option set reaches it, every chunk takes its highest-scoring option.
pub(crate) fn plan(curves: &[Curve], goal: Goal, pricing: Pricing) -> Vec<Pick> {
    let grid = crf_grid();
    let options: Vec<Vec<Opt>> = curves
        .iter()
        .map(|c| {
            let mut opts = measured(c);
            let first = c.points.first().map_or(0.0, |p| p.bytes);
            for &crf in &grid {
                let nearest = c.points.iter().map(|p| (p.crf - crf).abs()).fold(f64::MAX, f64::min);
                if !(0.25..=MAX_STEP).contains(&nearest) {
                    continue;
                }
                if let Some((vmaf, bytes)) = c.predict(crf) {
                    let cost = bytes + pricing.encode_cost * first;
                    opts.push(Opt { vmaf: vmaf - pricing.prediction_discount, cost, pick: Pick::Encode(crf) });
                }
            }
            opts
        })
        .collect();
    solve(curves, &options, goal).0
}

/// The final choice among measured versions only: the index of each
/// chunk's version in [`Curve::points`], and whether `goal` is reached
/// (when the mean is out of reach, each chunk has its best-scoring
/// version; a chunk whose versions all miss the floor has its best and the
/// others are still chosen for the mean).
pub(crate) fn choose(curves: &[Curve], goal: Goal) -> (Vec<usize>, bool) {
    let options: Vec<Vec<Opt>> = curves.iter().map(measured).collect();
    let (picks, reached) = solve(curves, &options, goal);
    let idx = picks.iter().map(|p| if let Pick::Measured(i) = p { *i } else { 0 }).collect();
    (idx, reached)
}

fn measured(c: &Curve) -> Vec<Opt> {
    c.points.iter().enumerate().map(|(i, p)| Opt { vmaf: p.vmaf, cost: p.bytes, pick: Pick::Measured(i) }).collect()
}

/// The Lagrangian allocation (module docs) over `options`, then the greedy
/// pass back to cheaper options.
fn solve(curves: &[Curve], options: &[Vec<Opt>], goal: Goal) -> (Vec<Pick>, bool) {
    // The floor: only options at or above it, where a chunk has any.
    let floors_held = options.iter().all(|o| o.iter().any(|x| x.vmaf >= goal.floor));
    let allowed: Vec<Vec<Opt>> = options
        .iter()
        .map(|o| {
            let above: Vec<Opt> = o.iter().copied().filter(|x| x.vmaf >= goal.floor).collect();
            if above.is_empty() { best(o).into_iter().collect() } else { above }
        })
        .collect();
    let weight: f64 = curves.iter().map(|c| c.frames).sum::<f64>().max(1e-9);
    let need = goal.mean * weight;
    let pick = |lambda: f64| -> Vec<usize> {
        allowed
            .iter()
            .zip(curves)
            .map(|(o, c)| {
                let score = |x: &Opt| x.cost - lambda * c.frames * x.vmaf;
                (0..o.len())
                    .min_by(|&a, &b| score(&o[a]).total_cmp(&score(&o[b])).then(o[a].cost.total_cmp(&o[b].cost)))
                    .unwrap_or(0)
            })
            .collect()
    };
    let total =
        |p: &[usize]| -> f64 { p.iter().zip(&allowed).zip(curves).map(|((&i, o), c)| o[i].vmaf * c.frames).sum() };
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    let mut picks = pick(0.0);
    if total(&picks) < need {
        while total(&pick(hi)) < need && hi < 1e18 {
            lo = hi;
            hi *= 4.0;
        }
        if total(&pick(hi)) < need {
            let top: Vec<Pick> = allowed.iter().map(|o| best(o).map_or(Pick::Measured(0), |x| x.pick)).collect();
            return (top, false);
        }
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if total(&pick(mid)) >= need { hi = mid } else { lo = mid }
        }
        picks = pick(hi);
    }
    // Back to cheaper options while the mean still holds: the largest
    // saving first, at most one pass per chunk.
    let mut sum = total(&picks);
    for _ in 0..picks.len() {
        let mut move_to: Option<(usize, usize, f64)> = None;
        for (k, o) in allowed.iter().enumerate() {
            let now = o[picks[k]];
            for (j, x) in o.iter().enumerate() {
                let saved = now.cost - x.cost;
                let after = sum + (x.vmaf - now.vmaf) * curves[k].frames;
                if saved > 0.0 && after >= need && move_to.is_none_or(|m| saved > m.2) {
                    move_to = Some((k, j, saved));
                }
            }
        }
        let Some((k, j, _)) = move_to else { break };
        sum += (allowed[k][j].vmaf - allowed[k][picks[k]].vmaf) * curves[k].frames;
        picks[k] = j;
    }
    (picks.iter().zip(&allowed).map(|(&i, o)| o[i].pick).collect(), floors_held)
}

fn best(o: &[Opt]) -> Option<Opt> {
    o.iter().copied().max_by(|a, b| a.vmaf.total_cmp(&b.vmaf).then(b.cost.total_cmp(&a.cost)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(frames: f64, points: &[(f64, f64, f64)]) -> Curve {
        Curve { frames, points: points.iter().map(|&(crf, vmaf, bytes)| Point { crf, vmaf, bytes }).collect() }
    }

    const PRICING: Pricing = Pricing { prediction_discount: 0.25, encode_cost: 0.1 };

    #[test]
    fn the_model_follows_the_log_domain_lines() {
        // One point: the assumed slopes.
        let c = curve(1.0, &[(24.0, 95.0, 1000.0)]);
        let (v, b) = c.predict(30.0).unwrap();
        assert!((v - (100.0 - 5.0 * (0.78f64).exp())).abs() < 1e-9, "{v}");
        assert!((b - 1000.0 * (-0.84f64).exp()).abs() < 1e-6, "{b}");
        // Two points: through both, and between them on the line.
        let c = curve(1.0, &[(30.0, 90.0, 400.0), (20.0, 98.0, 1600.0)]);
        assert!((c.predict(20.0).unwrap().0 - 98.0).abs() < 1e-9);
        assert!((c.predict(30.0).unwrap().1 - 400.0).abs() < 1e-6);
        let (v, b) = c.predict(25.0).unwrap();
        assert!((v - (100.0 - (2.0f64 * 10.0).sqrt())).abs() < 1e-9, "{v}");
        assert!((b - 800.0).abs() < 1e-6, "{b}");
        // Beyond them: the nearest segment's slope, clamped (here 2.3 per step → 0.25).
        let c = curve(1.0, &[(20.0, 98.0, 1000.0), (21.0, 97.0, 100.0)]);
        let (_, b) = c.predict(25.0).unwrap();
        assert!((b - 100.0 * (-1.0f64).exp()).abs() < 1e-6, "{b}");
        assert!(curve(1.0, &[]).predict(20.0).is_none());
    }

    /// Near VMAF 100 the curve is not trusted far: a saturated chunk is
    /// loosened at most [`MAX_STEP`] at a time, and read as no better than 99.
    #[test]
    fn a_saturated_chunk_is_loosened_a_step_at_a_time() {
        let c = curve(37.0, &[(21.5, 99.48, 122_092.0)]);
        assert!((c.predict(21.5).unwrap().0 - 99.0).abs() < 1e-9);
        let picks = plan(&[curve(63.0, &[(22.5, 93.05, 61_340.0)]), c], Goal { mean: 93.25, floor: 90.25 }, PRICING);
        assert!(matches!(picks[1], Pick::Encode(crf) if crf > 21.5 && crf <= 21.5 + MAX_STEP), "{picks:?}");
    }

    #[test]
    fn one_crf_is_the_loosest_that_reaches_the_mean() {
        let cs = [curve(1.0, &[(24.0, 95.0, 1000.0)]), curve(1.0, &[(24.0, 91.0, 3000.0)])];
        let crf = one_crf(&cs, 93.5).unwrap();
        let mean = |c: f64| (cs[0].predict(c).unwrap().0 + cs[1].predict(c).unwrap().0) / 2.0;
        assert!(mean(crf) >= 93.5 && mean(crf + 0.5) < 93.5, "{crf}");
    }

    /// Two chunks whose quality costs differently: the mean is bought where
    /// it is cheap, not by pulling the expensive chunk up to the target,
    /// and the plan's bytes are below what equalizing both would cost.
    #[test]
    fn the_mean_is_bought_where_quality_is_cheapest() {
        // An easy chunk (VMAF 96 at CRF 24, few bytes) and a hard one (90 at CRF 24, many bytes).
        let cs = [curve(100.0, &[(24.0, 96.0, 1000.0)]), curve(100.0, &[(24.0, 90.0, 8000.0)])];
        let goal = Goal { mean: 93.25, floor: 90.25 };
        let picks = plan(&cs, goal, PRICING);
        let at = |k: usize| match picks[k] {
            Pick::Encode(c) => cs[k].predict(c).unwrap(),
            Pick::Measured(i) => (cs[k].points[i].vmaf, cs[k].points[i].bytes),
        };
        let ((va, ba), (vb, bb)) = (at(0), at(1));
        let discount = |p: Pick| if matches!(p, Pick::Encode(_)) { 0.25 } else { 0.0 };
        assert!((va - discount(picks[0]) + vb - discount(picks[1])) / 2.0 >= 93.25, "{picks:?}");
        assert!((90.25..93.25).contains(&vb), "the hard chunk is not pulled to the target: {vb}");
        assert!(va > 93.25, "the easy one carries the mean: {va}");
        // Equalizing: each chunk at the CRF that brings it to 93.5.
        let eq: f64 = cs.iter().map(|c| c.predict(one_crf(std::slice::from_ref(c), 93.5).unwrap()).unwrap().1).sum();
        assert!(ba + bb < eq, "{} vs {eq}", ba + bb);
    }

    #[test]
    fn the_floor_holds_and_a_small_saving_is_not_worth_an_encode() {
        // The mean is met, but one chunk sits under the floor: it alone is encoded again.
        let cs = [curve(10.0, &[(24.0, 97.0, 1000.0)]), curve(10.0, &[(24.0, 89.0, 1000.0)])];
        let picks = plan(&cs, Goal { mean: 93.0, floor: 90.25 }, PRICING);
        assert!(matches!(picks[1], Pick::Encode(c) if c < 24.0), "{picks:?}");
        // A chunk a little above the goal keeps its measurement: loosening
        // half a step saves about 7%, less than the encode's price.
        let cs = [curve(10.0, &[(24.0, 93.9, 1000.0)])];
        assert_eq!(plan(&cs, Goal { mean: 93.25, floor: 90.25 }, PRICING), vec![Pick::Measured(0)]);
        // Far above it: looser.
        let cs = [curve(10.0, &[(24.0, 97.0, 1000.0)])];
        assert!(matches!(plan(&cs, Goal { mean: 93.25, floor: 90.25 }, PRICING)[0], Pick::Encode(c) if c > 26.0));
    }

    #[test]
    fn the_choice_takes_the_cheapest_measured_set_that_reaches_the_goal() {
        let cs = [
            curve(10.0, &[(24.0, 95.0, 1000.0), (28.0, 92.0, 600.0)]),
            curve(10.0, &[(24.0, 92.0, 3000.0), (20.0, 94.5, 5000.0)]),
        ];
        let goal = Goal { mean: 93.0, floor: 90.0 };
        // (95, 92) → 93.5 for 4000 bytes; (92, 94.5) → 93.25 for 5600; (95, 94.5) 6000.
        assert_eq!(choose(&cs, goal), (vec![0, 0], true));
        // Out of reach: each chunk's best, and said so.
        assert_eq!(choose(&cs, Goal { mean: 99.0, floor: 90.0 }), (vec![0, 1], false));
        // A floor no version reaches: that chunk's best, the rest still chosen for the mean.
        assert_eq!(choose(&cs, Goal { mean: 93.0, floor: 94.0 }), (vec![0, 1], true));
        let cs = [cs[0].clone(), curve(10.0, &[(24.0, 88.0, 3000.0), (20.0, 89.0, 5000.0)])];
        assert_eq!(choose(&cs, Goal { mean: 91.0, floor: 90.0 }), (vec![0, 1], false));
        assert_eq!(
            choose(&cs, Goal { mean: 90.0, floor: 90.0 }).0,
            vec![1, 1],
            "the mean is still bought with the rest"
        );
    }
}
