//! Shared test helpers: a seeded random number generator and a harness that runs one layer's
//! forward and backward directly on a `CpuBackend` (no graph, no optimizer), so a test sees
//! exactly what the layer computes; and for the training and I/O tests, deterministic
//! synthetic tables and small models.

#![allow(dead_code)]

use neuroxide::backend::cpu::CpuBackend;
use neuroxide::layers::{GradIo, Io, Layer, LayerCtx, ParamSpec};
use neuroxide::ops::elementwise;
use neuroxide::{Backend, BufId, DType, HostData, Shape};

/// SplitMix64: a tiny deterministic generator for test data (not for the library).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
    /// Uniform in `[lo, hi)` but at least `margin` away from every point in `avoid`.
    pub fn vec_avoiding(
        &mut self,
        n: usize,
        lo: f32,
        hi: f32,
        avoid: &[f32],
        margin: f32,
    ) -> Vec<f32> {
        (0..n)
            .map(|_| loop {
                let v = self.uniform(lo, hi);
                if avoid.iter().all(|&a| (v - a).abs() >= margin) {
                    break v;
                }
            })
            .collect()
    }
    /// An index in `0..n`.
    pub fn index(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// One layer with all its buffers planned on a single-threaded CPU backend.
pub struct LayerHarness {
    pub layer: Box<dyn Layer>,
    pub input_shapes: Vec<Shape>,
    pub output_shape: Shape,
    pub param_specs: Vec<ParamSpec>,
    pub batch: usize,
    pub training: bool,
    pub seed: u64,
    pub step: u64,
    be: CpuBackend,
    inputs: Vec<BufId>,
    output: BufId,
    params: Vec<BufId>,
    workspace: Vec<BufId>,
    state: Vec<BufId>,
    grad_output: BufId,
    grad_inputs: Vec<BufId>,
    grad_params: Vec<BufId>,
}

impl LayerHarness {
    /// Plans `layer` applied to inputs of the given per-sample shapes, for `batch` rows.
    pub fn new(
        layer: Box<dyn Layer>,
        input_shapes: Vec<Shape>,
        batch: usize,
        training: bool,
    ) -> Self {
        let output_shape = layer
            .output_shape(&input_shapes)
            .unwrap_or_else(|e| panic!("{}: output_shape failed: {e}", layer.kind()));
        let param_specs = layer.params(&input_shapes);
        let mut be = CpuBackend::new(1);
        // Inputs in the dtype the layer reads (i32 token ids for an Embedding).
        let inputs: Vec<BufId> = input_shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                be.alloc_typed(layer.input_dtype(i), &[batch * s.numel()])
                    .expect("alloc")
            })
            .collect();
        let mut alloc = |n: usize| be.alloc(n).expect("alloc");
        let out_n = batch * output_shape.numel();
        let output = alloc(out_n);
        let params: Vec<BufId> = param_specs.iter().map(|p| alloc(p.shape.numel())).collect();
        let workspace: Vec<BufId> = layer
            .workspace(&input_shapes, &output_shape)
            .into_iter()
            .map(|per| batch * per)
            .chain(layer.fixed_workspace(&input_shapes))
            .map(&mut alloc)
            .collect();
        let state_specs = layer.state(&input_shapes);
        let state: Vec<BufId> = state_specs.iter().map(|p| alloc(p.shape.numel())).collect();
        let grad_output = alloc(out_n);
        let grad_inputs: Vec<BufId> = input_shapes
            .iter()
            .map(|s| alloc(batch * s.numel()))
            .collect();
        let grad_params: Vec<BufId> = param_specs.iter().map(|p| alloc(p.shape.numel())).collect();
        let mut h = LayerHarness {
            layer,
            input_shapes,
            output_shape,
            param_specs,
            batch,
            training,
            seed: 7,
            step: 3,
            be,
            inputs,
            output,
            params,
            workspace,
            state,
            grad_output,
            grad_inputs,
            grad_params,
        };
        for (b, spec) in h.state.clone().into_iter().zip(&state_specs) {
            let n = spec.shape.numel();
            let v = spec.init.values(n, n, n, 0, 0);
            h.be.upload(b, 0, &v).expect("upload state");
        }
        h
    }

    /// State tensor `i` (after a forward).
    pub fn state(&mut self, i: usize) -> Vec<f32> {
        let mut v = vec![0.0; self.be.buf_len(self.state[i])];
        self.be.download(self.state[i], 0, &mut v).expect("state");
        v
    }

    /// Replaces state tensor `i`.
    pub fn set_state(&mut self, i: usize, values: &[f32]) {
        self.be.upload(self.state[i], 0, values).expect("set state");
    }

    /// Number of values of input `i` for the whole batch.
    pub fn input_len(&self, i: usize) -> usize {
        self.batch * self.input_shapes[i].numel()
    }

    /// Number of output values for the whole batch.
    pub fn output_len(&self) -> usize {
        self.batch * self.output_shape.numel()
    }

    fn upload(&mut self, inputs: &[Vec<f32>], params: &[Vec<f32>]) {
        assert_eq!(inputs.len(), self.inputs.len(), "number of inputs");
        assert_eq!(params.len(), self.params.len(), "number of parameters");
        for (i, (b, v)) in self.inputs.iter().zip(inputs).enumerate() {
            if self.layer.input_dtype(i) == DType::I32 {
                // Test inputs of id layers are small integers written as f32 here.
                let ids: Vec<i32> = v.iter().map(|&x| x as i32).collect();
                self.be
                    .upload_values(*b, 0, HostData::I32(&ids))
                    .expect("upload ids");
            } else {
                self.be.upload(*b, 0, v).expect("upload input");
            }
        }
        for (b, v) in self.params.iter().zip(params) {
            self.be.upload(*b, 0, v).expect("upload param");
        }
    }

    fn run_forward(&mut self) {
        let io = Io {
            inputs: &self.inputs,
            input_shapes: &self.input_shapes,
            output: self.output,
            output_shape: &self.output_shape,
            params: &self.params,
            workspace: &self.workspace,
            state: &self.state,
        };
        let mut ctx = LayerCtx {
            backend: &mut self.be,
            batch: self.batch,
            training: self.training,
            seed: self.seed,
            node: 1,
            step: self.step,
            step_block: None,
        };
        self.layer
            .forward(&mut ctx, &io)
            .unwrap_or_else(|e| panic!("{} forward: {e}", self.layer.kind()));
    }

    /// The layer's output for the given input and parameter values.
    pub fn forward(&mut self, inputs: &[Vec<f32>], params: &[Vec<f32>]) -> Vec<f32> {
        self.upload(inputs, params);
        self.run_forward();
        let mut y = vec![0.0; self.output_len()];
        self.be.download(self.output, 0, &mut y).expect("download");
        y
    }

    /// A workspace buffer's first `len` values (after a forward).
    pub fn workspace(&mut self, i: usize, len: usize) -> Vec<f32> {
        let mut v = vec![0.0; len];
        self.be.download(self.workspace[i], 0, &mut v).expect("ws");
        v
    }

    /// Forward, then backward with `dy` as the output gradient. Every gradient buffer is filled
    /// with NaN first, so a layer that fails to overwrite one is caught.
    /// Returns `(input gradients, parameter gradients)`.
    pub fn backward(
        &mut self,
        inputs: &[Vec<f32>],
        params: &[Vec<f32>],
        dy: &[f32],
    ) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        self.upload(inputs, params);
        self.run_forward();
        self.be.upload(self.grad_output, 0, dy).expect("dy");
        for b in self.grad_inputs.iter().chain(&self.grad_params) {
            let n = self.be.buf_len(*b);
            elementwise::fill(&mut self.be, *b, n, f32::NAN).expect("fill");
        }
        let grad_inputs: Vec<Option<BufId>> = self.grad_inputs.iter().map(|&b| Some(b)).collect();
        let io = Io {
            inputs: &self.inputs,
            input_shapes: &self.input_shapes,
            output: self.output,
            output_shape: &self.output_shape,
            params: &self.params,
            workspace: &self.workspace,
            state: &self.state,
        };
        let g = GradIo {
            grad_output: self.grad_output,
            grad_inputs: &grad_inputs,
            grad_params: &self.grad_params,
        };
        let mut ctx = LayerCtx {
            backend: &mut self.be,
            batch: self.batch,
            training: self.training,
            seed: self.seed,
            node: 1,
            step: self.step,
            step_block: None,
        };
        self.layer
            .backward(&mut ctx, &io, &g)
            .unwrap_or_else(|e| panic!("{} backward: {e}", self.layer.kind()));
        let download = |be: &mut CpuBackend, b: BufId| {
            let mut v = vec![0.0; be.buf_len(b)];
            be.download(b, 0, &mut v).expect("download grad");
            v
        };
        let gi = self
            .grad_inputs
            .iter()
            .map(|&b| download(&mut self.be, b))
            .collect();
        let gp = self
            .grad_params
            .iter()
            .map(|&b| download(&mut self.be, b))
            .collect();
        (gi, gp)
    }
}

/// `Σ r[i]·y[i]` in f64 from f32 values.
pub fn dot64(r: &[f32], y: &[f32]) -> f64 {
    assert_eq!(r.len(), y.len());
    r.iter()
        .zip(y)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// Central finite differences in f64 of `f` around `x`, element by element: `x[j] ± h` are
/// rounded to f32 and the step actually taken, `(x[j]+h) − (x[j]−h)` in f64, is the divisor.
/// Compares with `analytic` using `|a − n| ≤ rtol·max(|a|, |n|) + atol·scale`, where `scale` is
/// the largest |analytic| of the tensor (at least 1e-3). Returns one line per failing element,
/// naming it `label[j]`.
pub fn fd_check(
    label: &str,
    x: &[f32],
    analytic: &[f32],
    h: f32,
    rtol: f64,
    atol: f64,
    f: &mut dyn FnMut(&[f32]) -> f64,
) -> Vec<String> {
    assert_eq!(x.len(), analytic.len(), "{label}: gradient length");
    let scale = analytic
        .iter()
        .fold(1e-3f64, |m, &a| m.max(f64::from(a).abs()));
    let mut failures = Vec::new();
    let mut xv = x.to_vec();
    for j in 0..x.len() {
        let x0 = x[j];
        let hj = h * x0.abs().max(1.0);
        let xp = x0 + hj;
        let xm = x0 - hj;
        xv[j] = xp;
        let fp = f(&xv);
        xv[j] = xm;
        let fm = f(&xv);
        xv[j] = x0;
        let step = f64::from(xp) - f64::from(xm);
        let num = (fp - fm) / step;
        let a = f64::from(analytic[j]);
        let err = (a - num).abs();
        let tol = rtol * a.abs().max(num.abs()) + atol * scale;
        // NaN in either gradient counts as a failure.
        let ok = err <= tol;
        if !ok {
            failures.push(format!(
                "{label}[{j}] (x = {x0}): analytic {a:.7e}, numeric {num:.7e}, |diff| {err:.3e} > tol {tol:.3e}"
            ));
        }
    }
    failures
}

// ---- Training and I/O helpers ----

use neuroxide::data::Dataset;
use neuroxide::layers::{Dense, Dropout};
use neuroxide::{optim, Loss, Model, Sequential, Tensor};
use std::path::PathBuf;

/// A 32-bit LCG (Numerical Recipes constants): reproducible test data without a dependency.
pub struct Lcg(pub u32);

impl Lcg {
    pub fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 8) as f32 / 16_777_216.0
    }
}

/// `n` rows of 4 features in 3 Gaussian-ish blobs (class = blob), overlapping a little.
pub fn blobs(n: usize, seed: u32) -> Dataset {
    let mut r = Lcg(seed);
    let centres = [
        [0.0, 0.0, 1.0, -1.0],
        [2.0, 1.0, -1.0, 0.0],
        [-1.0, 2.0, 0.0, 1.5],
    ];
    let mut x = Vec::with_capacity(n * 4);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 3;
        for centre in centres[c] {
            let noise = (r.next_f32() + r.next_f32() + r.next_f32() - 1.5) * 1.2;
            x.push(centre + noise);
        }
        y.push(c as i32);
    }
    Dataset::new(
        Tensor::new([n, 4], x).unwrap(),
        Tensor::from_i32([n, 1], y).unwrap(),
    )
    .unwrap()
}

/// A 4 → 16 (ReLU) → 3 classifier, Adam(0.01), cross-entropy on logits.
pub fn classifier(seed: u64) -> Model {
    let mut m = Sequential::new([4])
        .add(Dense::new(16).relu())
        .add(Dense::new(3))
        .build(seed)
        .unwrap();
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    m
}

/// Like [`classifier`] with dropout between the layers (exercises the step-keyed masks).
pub fn classifier_with_dropout(seed: u64) -> Model {
    let mut m = Sequential::new([4])
        .add(Dense::new(16).relu())
        .add(Dropout::new(0.25))
        .add(Dense::new(3))
        .build(seed)
        .unwrap();
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    m
}

/// Bit patterns of every weight, for exact comparisons.
pub fn weight_bits(m: &mut Model) -> Vec<(String, Vec<u32>)> {
    m.weights()
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.data().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neuroxide-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The repository's `data/` folder.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}
