//! Which steps — training steps, evaluation batches, prediction batches — are replayed from a
//! recording (a CUDA graph) and which are queued kernel by kernel.
//!
//! A step is identified by what shapes its launch list: its phase, the batch size, the loss, whether
//! accuracy is counted, clipping, and the optimizer's kind and hyper-parameters other than the
//! learning rate (which, like Adam's bias corrections and the dropout counter, travels in the
//! per-step scalar block). The first step of a kind runs queued (it sizes every scratch buffer
//! and allocates optimizer state); the second is recorded and replayed; later ones are
//! replayed. Replanning buffers forgets every recording.

use crate::backend::OptimizerKind;
use crate::loss::Loss;

/// Which kind of step a recording holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Forward, loss, backward, clipping, update.
    Train,
    /// Forward and loss (evaluation; running loss and accuracy).
    Evaluate,
    /// Forward only (prediction).
    Predict,
}

/// What makes two steps the same launch list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct StepKey {
    pub phase: Phase,
    pub batch: usize,
    pub loss: Loss,
    pub track_accuracy: bool,
    pub clip_bits: Option<u32>,
    /// The optimizer with its learning rate zeroed (the rate is read from the scalar block);
    /// `None` for evaluation and prediction, which update nothing.
    pub optimizer: Option<OptimizerKind>,
    /// Shards per global batch of a training step (1 otherwise).
    pub shards: usize,
}

impl StepKey {
    pub fn new(
        phase: Phase,
        batch: usize,
        loss: Loss,
        track_accuracy: bool,
        clip: Option<f32>,
        optimizer: Option<OptimizerKind>,
    ) -> Self {
        StepKey {
            phase,
            batch,
            loss,
            track_accuracy,
            clip_bits: clip.map(f32::to_bits),
            optimizer: optimizer.map(|o| o.with_lr(0.0)),
            shards: 1,
        }
    }

    /// The same key for a step that splits its batch into `shards` shards.
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }
}

/// What to do with the next step of a given key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepPlan {
    /// Queue it kernel by kernel.
    Queue,
    /// Queue it under capture, then replay the recording.
    Record,
    /// Replay recording `id`.
    Replay(usize),
}

/// The recordings of one executor.
#[derive(Default)]
pub(crate) struct StepRecordings {
    /// Record steps at all (`NEUROXIDE_CUDA_GRAPHS=0` or `Model::set_step_recording(false)`
    /// turns it off, for debugging and for the recorded-vs-queued parity test).
    pub enabled: bool,
    recorded: Vec<(StepKey, usize)>,
    seen: Vec<StepKey>,
    /// Why recording was turned off after a failed capture, if it was.
    pub failure: Option<String>,
    /// Kernels in the last step (queued or replayed).
    pub launches_per_step: u64,
}

impl StepRecordings {
    /// Recording on unless `NEUROXIDE_CUDA_GRAPHS=0`.
    pub fn from_env() -> Self {
        StepRecordings {
            enabled: std::env::var("NEUROXIDE_CUDA_GRAPHS").map_or(true, |v| v != "0"),
            ..Default::default()
        }
    }

    /// The plan for a step with `key` (allocates only the first time a key is seen).
    pub fn plan(&mut self, key: &StepKey) -> StepPlan {
        if !self.enabled {
            return StepPlan::Queue;
        }
        if let Some(&(_, id)) = self.recorded.iter().find(|(k, _)| k == key) {
            return StepPlan::Replay(id);
        }
        if self.seen.contains(key) {
            return StepPlan::Record;
        }
        self.seen.push(*key);
        StepPlan::Queue
    }

    /// Remembers recording `id` for `key`.
    pub fn recorded(&mut self, key: StepKey, id: usize) {
        self.recorded.push((key, id));
    }

    /// Forgets every recording (the buffers they use are being replanned).
    pub fn clear(&mut self) {
        self.recorded.clear();
        self.seen.clear();
    }

    /// Turns recording off after a failed capture, keeping the reason.
    pub fn disable(&mut self, why: String) {
        self.enabled = false;
        self.failure = Some(why);
        self.clear();
    }
}
