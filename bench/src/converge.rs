//! Converge from empty against the floor, as pairs of fresh worlds.
//!
//! One operator run against one floor run is noise on these 2 cores, where moto shares the CPU
//! with the process it serves (the same code has measured 0.92× and 1.52× at N = 1000). So the
//! bench takes several pairs, each an operator converge and then a floor run, each from an empty
//! moto, back to back so a slow minute of the machine slows both halves of a pair; the figure is
//! the median of the pairs' ratios.

use anyhow::{bail, Result};
use ecs_operator::source::{Source, SourceLocation};

use crate::{check, floor, log, manifests, operator, render_all, stats, world, Args};

/// One operator converge and the floor run after it, each in an empty world.
#[derive(Debug, Clone, Copy)]
pub struct ConvergeSample {
    pub operator_secs: f64,
    pub floor_secs: f64,
}

impl ConvergeSample {
    pub fn ratio(&self) -> Option<f64> {
        stats::ratio(self.operator_secs, self.floor_secs)
    }
}

/// The median of the pairs' ratios (`None` without a pair whose floor took any time).
pub fn median_ratio(samples: &[ConvergeSample]) -> Option<f64> {
    let ratios: Vec<f64> = samples.iter().filter_map(ConvergeSample::ratio).collect();
    (!ratios.is_empty()).then(|| stats::median(&ratios))
}

/// The extra pairs after the measured world's own (`--converge-samples` minus one). Without
/// `--reset-moto` each world gets names of its own beside whatever moto already holds.
pub async fn more_samples(
    args: &Args,
    n: usize,
    prefix: &str,
    octet: u8,
) -> Result<Vec<ConvergeSample>> {
    let mut samples = Vec::new();
    for k in 2..=args.converge_samples {
        let operator_prefix = format!("{prefix}s{k}o-");
        let operator_secs = operator_converge(args, n, &operator_prefix, octet).await?;
        let floor_prefix = format!("{prefix}s{k}f-");
        let floor_secs = floor_converge(args, n, &floor_prefix, octet + 1).await?;
        let sample = ConvergeSample {
            operator_secs,
            floor_secs,
        };
        log(format!(
            "N={n}: converge pair {k}: operator {operator_secs:.2} s, floor {floor_secs:.2} s ({:.2}×)",
            sample.ratio().unwrap_or(f64::NAN)
        ));
        samples.push(sample);
    }
    Ok(samples)
}

/// A fresh world with `n` manifests uploaded, converged by one operator pass: its seconds.
async fn operator_converge(args: &Args, n: usize, prefix: &str, octet: u8) -> Result<f64> {
    if args.reset_moto {
        world::reset_moto(&args.endpoint).await?;
    }
    let setup = world::clients(&args.endpoint).await;
    let id = format!("bench-{prefix}op").replace("--", "-");
    let w = world::World::create(&args.endpoint, &setup, &id, octet).await?;
    w.upload(&setup, &manifests::generate(prefix, n)).await?;
    let reconciler = crate::new_reconciler(args, &w.settings).await;
    let location = SourceLocation::parse(&w.settings.manifest_source)?;
    let pass = operator::pass(&reconciler, &mut Source::new(location)).await?;
    check(&pass, "converge sample")?;
    Ok(pass.secs)
}

/// A fresh world in which the floor creates what `n` manifests render to: its seconds.
async fn floor_converge(args: &Args, n: usize, prefix: &str, octet: u8) -> Result<f64> {
    Ok(floor_run(args, n, prefix, octet).await?.secs)
}

/// The floor in a fresh world (after a reset, from the same empty start as the operator's).
pub async fn floor_run(args: &Args, n: usize, prefix: &str, octet: u8) -> Result<floor::Floor> {
    if args.reset_moto {
        world::reset_moto(&args.endpoint).await?;
    }
    let clients = world::clients(&args.endpoint).await;
    let id = format!("bench-{prefix}floor").replace("--", "-");
    let fw = world::World::create(&args.endpoint, &clients, &id, octet).await?;
    let desired = render_all(&manifests::generate(prefix, n), &fw.settings)?;
    let floor = floor::run(&clients, &desired, args.concurrency).await;
    if !floor.errors.is_empty() {
        bail!(
            "the floor failed: {:?}",
            &floor.errors[..floor.errors.len().min(5)]
        );
    }
    Ok(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(operator_secs: f64, floor_secs: f64) -> ConvergeSample {
        ConvergeSample {
            operator_secs,
            floor_secs,
        }
    }

    #[test]
    fn the_figure_is_the_median_of_the_pairs_ratios() {
        // Ratios 1.5, 1.0 and 1.2: one slow operator run does not decide the figure.
        let samples = [pair(15.0, 10.0), pair(10.0, 10.0), pair(12.0, 10.0)];
        assert_eq!(median_ratio(&samples), Some(1.2));
        assert_eq!(median_ratio(&[pair(3.0, 2.0)]), Some(1.5));
    }

    #[test]
    fn pairs_whose_floor_took_no_time_have_no_ratio() {
        assert_eq!(median_ratio(&[pair(1.0, 0.0)]), None);
        assert_eq!(median_ratio(&[]), None);
        assert_eq!(median_ratio(&[pair(1.0, 0.0), pair(2.0, 1.0)]), Some(2.0));
    }
}
