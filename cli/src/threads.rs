//! The engine's threads as the commands set them up: `--wait`/`--spins` (the wait strategy),
//! `--pin THREAD=CORE,...` (opt-in core pinning, DESIGN.md section 2; cores are the OS's CPU
//! numbers, as `taskset` shows them, and a core the process may not run on is an error before
//! the thread does anything) and the executor thread that reads the engine's feature ring.

use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow, bail};
use orderflow_engine::{
    Cores, FeatureReader, PinConfig, Spin, SpinYield, SpinYieldPark, WaitStrategy,
};

/// `--wait` and `--spins`: how the engine's threads (and an executor thread) wait while idle.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct WaitArgs {
    /// How the engine's threads (and `bench latency`'s executor) wait while idle.
    #[arg(long, value_enum, default_value_t = Wait::Park)]
    pub(crate) wait: Wait,
    /// Idle polls spent spinning before the first yield, for `--wait park` and `yield`
    /// (default: the strategies' own, 128). Threads sharing a core hand it over sooner with
    /// fewer.
    #[arg(long, value_name = "N")]
    pub(crate) spins: Option<u32>,
}

/// The engine's wait strategies, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Wait {
    /// Spin, yield, then sleep until woken (`SpinYieldPark`, the engine's default).
    Park,
    /// Spin, then yield the core on every idle poll; never sleeps (`SpinYield`).
    Yield,
    /// Busy-spin (`Spin`): lowest latency, a core for every waiting thread.
    Spin,
}

/// A command generic over the engine's wait strategy, run by [`WaitArgs::run`].
pub(crate) trait RunWith {
    type Output;

    fn run<W: WaitStrategy>(self, wait: W) -> Result<Self::Output>;
}

impl WaitArgs {
    /// Runs `command` with the strategy the flags name.
    ///
    /// # Errors
    /// `--spins` with `--wait spin`, or whatever `command` returns.
    pub(crate) fn run<R: RunWith>(&self, command: R) -> Result<R::Output> {
        match self.wait {
            Wait::Park => {
                let mut wait = SpinYieldPark::default();
                wait.spins = self.spins.unwrap_or(wait.spins);
                command.run(wait)
            }
            Wait::Yield => {
                let mut wait = SpinYield::default();
                wait.spins = self.spins.unwrap_or(wait.spins);
                command.run(wait)
            }
            Wait::Spin if self.spins.is_some() => {
                bail!("--spins sets how long `park` and `yield` spin; `--wait spin` always spins")
            }
            Wait::Spin => command.run(Spin),
        }
    }
}

/// The core of each thread `--pin` named; `None` leaves a thread unpinned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PinLayout {
    pub(crate) feed: Option<usize>,
    pub(crate) engine: Option<usize>,
    pub(crate) recorder: Option<usize>,
    /// The thread reading the engine's feature ring (`bench latency`).
    pub(crate) executor: Option<usize>,
    /// The mock exchange's thread (`bench latency`).
    pub(crate) mock: Option<usize>,
}

impl PinLayout {
    /// Parses `feed=0,engine=1,...`, accepting only the thread names in `threads`.
    fn parse(s: &str, threads: &[&str]) -> Result<Self, String> {
        let mut layout = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, core) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not THREAD=CORE"))?;
            let core: usize = core
                .trim()
                .parse()
                .map_err(|_| format!("core {core:?} of {name} is not a CPU number"))?;
            let name = name.trim();
            let slot = match name {
                _ if !threads.contains(&name) => None,
                "feed" => Some(&mut layout.feed),
                "engine" => Some(&mut layout.engine),
                "recorder" => Some(&mut layout.recorder),
                "executor" => Some(&mut layout.executor),
                "mock" => Some(&mut layout.mock),
                _ => None,
            }
            .ok_or_else(|| {
                format!(
                    "no thread {name:?} to pin here (threads: {})",
                    threads.join(", ")
                )
            })?;
            if slot.replace(core).is_some() {
                return Err(format!("{name} is pinned twice"));
            }
        }
        if layout == Self::default() {
            return Err("nothing to pin: give THREAD=CORE pairs".to_owned());
        }
        Ok(layout)
    }

    /// `--pin` of `live`: the engine's own threads.
    pub(crate) fn parse_live(s: &str) -> Result<Self, String> {
        Self::parse(s, &["feed", "engine", "recorder"])
    }

    /// `--pin` of `bench latency`: the engine's threads, the executor and the mock exchange.
    pub(crate) fn parse_bench(s: &str) -> Result<Self, String> {
        Self::parse(s, &["feed", "engine", "executor", "mock"])
    }

    /// The engine builder's part.
    pub(crate) fn engine_threads(&self) -> PinConfig {
        PinConfig {
            feed: self.feed,
            engine: self.engine,
            recorder: self.recorder,
        }
    }
}

impl std::fmt::Display for PinLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs = [
            ("feed", self.feed),
            ("engine", self.engine),
            ("recorder", self.recorder),
            ("executor", self.executor),
            ("mock", self.mock),
        ];
        let mut sep = "";
        for (name, core) in pairs {
            if let Some(core) = core {
                write!(f, "{sep}{name}={core}")?;
                sep = ",";
            }
        }
        Ok(())
    }
}

/// Runs `start` on a short-lived thread pinned to `core`, so that every thread it spawns (a
/// tokio runtime's, say) inherits that one core: how the mock exchange is pinned.
pub(crate) fn start_pinned<T: Send>(
    cores: &Cores,
    core: Option<usize>,
    thread: &'static str,
    start: impl FnOnce() -> T + Send,
) -> Result<T> {
    let Some(core) = core else {
        return Ok(start());
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            cores
                .pin_current(core, thread)
                .with_context(|| format!("pinning the {thread}"))?;
            Ok(start())
        })
        .join()
        .map_err(|_| anyhow!("the thread starting the {thread} panicked"))?
    })
}

/// Starts the executor's thread: it pins itself to `pin` if given, then reads every feature
/// update until the engine stops, and returns how many it read.
///
/// # Errors
/// When the core is missing or the OS refuses the pin; the reader is dropped then.
pub(crate) fn spawn_executor<W>(
    reader: Option<FeatureReader<W>>,
    cores: &Cores,
    pin: Option<usize>,
) -> Result<JoinHandle<u64>>
where
    W: WaitStrategy + Send + 'static,
{
    let (pinned_tx, pinned) = std::sync::mpsc::sync_channel(1);
    let cores = cores.clone();
    let thread = std::thread::Builder::new()
        .name("executor".to_owned())
        .spawn(move || {
            let result = pin.map_or(Ok(()), |core| cores.pin_current(core, "executor"));
            let ok = result.is_ok();
            let _ = pinned_tx.send(result);
            let mut n = 0u64;
            if let (true, Some(mut reader)) = (ok, reader) {
                while reader.next().is_some() {
                    n += 1;
                }
            }
            n
        })
        .context("starting the executor thread")?;
    pinned
        .recv()
        .map_err(|_| anyhow!("the executor thread stopped before pinning itself"))?
        .context("pinning the executor thread")?;
    Ok(thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thread_core_pairs() {
        assert_eq!(
            PinLayout::parse_bench(" feed=0, mock=0,engine=1,executor=1 "),
            Ok(PinLayout {
                feed: Some(0),
                engine: Some(1),
                recorder: None,
                executor: Some(1),
                mock: Some(0),
            })
        );
        assert_eq!(
            PinLayout::parse_live("recorder=3").map(|l| l.engine_threads()),
            Ok(PinConfig {
                feed: None,
                engine: None,
                recorder: Some(3),
            })
        );
    }

    #[test]
    fn rejects_what_it_cannot_pin() {
        for (input, says) in [
            ("", "nothing to pin"),
            ("feed", "is not THREAD=CORE"),
            ("feed=x", "not a CPU number"),
            ("feed=-1", "not a CPU number"),
            ("feed=0,feed=1", "pinned twice"),
            ("mock=0", "no thread \"mock\""),
            ("gpu=0", "no thread \"gpu\""),
        ] {
            let err = PinLayout::parse_live(input).unwrap_err();
            assert!(err.contains(says), "{input:?}: {err}");
        }
        assert!(PinLayout::parse_bench("recorder=0").is_err());
        let layout = PinLayout::parse_bench("executor=1,mock=0,feed=0").unwrap();
        assert_eq!(layout.to_string(), "feed=0,executor=1,mock=0");
    }

    /// Names the strategy it is run with.
    struct Name;

    impl RunWith for Name {
        type Output = String;

        fn run<W: WaitStrategy>(self, wait: W) -> Result<String> {
            Ok(format!("{wait:?}"))
        }
    }

    #[test]
    fn wait_flags_pick_the_strategy() {
        let run = |wait, spins| WaitArgs { wait, spins }.run(Name);
        assert_eq!(
            run(Wait::Yield, Some(0)).unwrap(),
            format!("{:?}", SpinYield { spins: 0 })
        );
        assert_eq!(
            run(Wait::Park, None).unwrap(),
            format!("{:?}", SpinYieldPark::default())
        );
        let park = run(Wait::Park, Some(5)).unwrap();
        assert!(park.contains("spins: 5"), "{park}");
        assert_eq!(run(Wait::Spin, None).unwrap(), "Spin");
        let err = run(Wait::Spin, Some(3)).unwrap_err();
        assert!(err.to_string().contains("--spins"), "{err}");
    }

    #[test]
    fn a_missing_core_stops_the_executor_before_it_reads() {
        let cores = Cores::detect();
        let missing = cores.ids().iter().max().map_or(0, |m| m + 1);
        let err = spawn_executor::<orderflow_engine::SpinYieldPark>(None, &cores, Some(missing))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("core {missing}")),
            "{err:#}"
        );
        let mock = start_pinned(&cores, Some(missing), "mock", || 7);
        assert!(mock.is_err());
        assert_eq!(start_pinned(&cores, None, "mock", || 7).unwrap(), 7);
    }
}
