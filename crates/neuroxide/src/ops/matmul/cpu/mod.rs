//! Exact matmul on the CPU: `C = act(op(A)·op(B) + bias)` with one f32 accumulator per output,
//! `acc = fma(A[i,p], B[p,j], acc)` for p increasing (see `ops::matmul::Matmul`).
//!
//! How it is fast without changing a bit: SIMD lanes hold *different outputs* (columns `j`), so
//! each lane runs the scalar recurrence unchanged; `A[i,p]` is broadcast and `B[p, j..j+NR]` is
//! loaded from a packed panel. A register-blocked micro-kernel (`kernel.rs`, 6 × 16 on AVX2,
//! 12 × 32 on AVX-512) keeps one accumulator per output in registers; the k axis is cut into
//! blocks for cache reuse and the accumulators are carried exactly from block to block through
//! their stored f32 value. Bias, pre-activation and activation are applied once per output after
//! its whole reduction (`tiles.rs`). Threads split the *outputs* into blocks (never one output's
//! sum), so 1 or N threads give the same bits.
//!
//! Steps of one call: small shapes (and the scalar path) take the unpacked loop (`direct.rs`);
//! otherwise A and B are packed into micro-panels (`pack.rs`) in a buffer owned by the calling
//! thread and reused across calls (no heap allocation once it has grown to the largest shape),
//! then the output blocks are computed in parallel on the pool (`tiles.rs`).

mod direct;
mod isa;
mod kernel;
mod pack;
mod simd;
mod tiles;

pub use isa::Isa;

use crate::backend::cpu::pool::{SharedMut, ThreadPool};
use crate::backend::Activation;
use crate::error::{Error, Result};
use std::cell::RefCell;
use tiles::Ctx;

/// Arguments of one exact matmul on host slices.
pub struct MatmulArgs<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: &'a [f32],
    pub a_trans: bool,
    pub b: &'a [f32],
    pub b_trans: bool,
    pub bias: Option<&'a [f32]>,
    pub act: Activation,
}

/// Below this many multiply-adds (`m·n·k`) the unpacked loop is faster than packing.
const SMALL_WORK: usize = 8 * 1024;
/// Below this many multiply-adds one thread is faster than waking the pool.
const PAR_WORK: usize = 1 << 19;
/// Tasks per thread that `plan` aims for when several threads share the work.
const TASKS_PER_THREAD: usize = 4;
/// k-block length: a `KC × NR` B micro-panel fits in L1 next to the A micro-panel.
const KC: usize = 256;
/// Target rows per task block: an `MC × KC` A block fits in L2.
const MC: usize = 96;
/// Target columns per task block.
const NC: usize = 1024;

/// Computes `c` (m × n) and, when given, `pre_act` (m × n, the values before the activation),
/// on the instruction set chosen by [`Isa::selected`].
///
/// # Panics
/// When a slice is shorter than the shape requires (the CPU backend checks this before calling).
pub fn matmul(pool: &ThreadPool, args: &MatmulArgs, c: &mut [f32], pre_act: Option<&mut [f32]>) {
    if let Err(e) = matmul_with(Isa::selected(), pool, args, c, pre_act) {
        panic!("{e}");
    }
}

/// [`matmul`] on a given instruction set (all give the same bits; tests compare them).
///
/// Errors when the CPU does not support `isa` or when a slice is shorter than the shape needs.
pub fn matmul_with(
    isa: Isa,
    pool: &ThreadPool,
    args: &MatmulArgs,
    c: &mut [f32],
    pre_act: Option<&mut [f32]>,
) -> Result<()> {
    check(isa, args, c, pre_act.as_deref())?;
    let (m, n, k) = (args.m, args.n, args.k);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let work = m.saturating_mul(n).saturating_mul(k);
    if isa == Isa::Scalar || k == 0 || work < SMALL_WORK {
        // SAFETY: `fma` only when the CPU has AVX2 + FMA (checked by `check` via `isa`).
        unsafe { direct::direct(pool, args, c, pre_act, isa != Isa::Scalar) };
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    match isa {
        Isa::Avx2 => packed(pool, args, c, pre_act, 6, 16, task_avx2),
        Isa::Avx512 => packed(pool, args, c, pre_act, 12, 32, task_avx512),
        Isa::Scalar => {}
    }
    Ok(())
}

/// Validates the ISA and the slice lengths, so that the raw-pointer kernels stay in bounds.
fn check(isa: Isa, args: &MatmulArgs, c: &[f32], pre_act: Option<&[f32]>) -> Result<()> {
    if !isa.is_available() {
        return Err(Error::Backend(format!(
            "matmul: instruction set '{}' is not supported by this CPU",
            isa.name()
        )));
    }
    let (m, n, k) = (args.m, args.n, args.k);
    let too_short = |what: &str, len: usize, need: Option<usize>| -> Result<()> {
        match need {
            Some(need) if len >= need => Ok(()),
            _ => Err(Error::Shape(format!(
                "matmul {m}x{k} · {k}x{n}: {what} has {len} values, needs {}",
                need.map_or("more than usize::MAX".to_string(), |v| v.to_string())
            ))),
        }
    };
    too_short("A", args.a.len(), m.checked_mul(k))?;
    too_short("B", args.b.len(), k.checked_mul(n))?;
    too_short("C", c.len(), m.checked_mul(n))?;
    if let Some(bias) = args.bias {
        too_short("bias", bias.len(), Some(n))?;
    }
    if let Some(pre) = pre_act {
        too_short("pre_act", pre.len(), m.checked_mul(n))?;
    }
    Ok(())
}

/// The AVX2 task: a 6 × 16 micro-kernel (12 `ymm` accumulators).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `ctx` as in [`tiles::compute_task`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn task_avx2(ctx: &Ctx, t: usize) {
    unsafe { tiles::compute_task::<simd::Avx2, 6, 2>(ctx, t) }
}

/// The AVX-512 task: a 12 × 32 micro-kernel (24 `zmm` accumulators).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA; `ctx` as in [`tiles::compute_task`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn task_avx512(ctx: &Ctx, t: usize) {
    unsafe { tiles::compute_task::<simd::Avx512, 12, 2>(ctx, t) }
}

thread_local! {
    /// Packing buffer of the calling thread: grown to the largest shape seen, then reused.
    static PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a pack buffer of at least `len` values whose start is 64-byte aligned.
fn with_pack_buffer<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    PACK.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            let need = len + 16;
            if buf.len() < need {
                buf.resize(need, 0.0);
            }
            let off = buf.as_ptr().align_offset(64).min(16);
            f(&mut buf[off..off + len])
        }
        // Re-entered on this thread (cannot happen through the backend): use a fresh buffer.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Packs A and B and runs the blocked micro-kernel `task` (`mr × nr` register tile).
fn packed(
    pool: &ThreadPool,
    args: &MatmulArgs,
    c: &mut [f32],
    pre_act: Option<&mut [f32]>,
    mr: usize,
    nr: usize,
    task: unsafe fn(&Ctx, usize),
) {
    let (m, n, k) = (args.m, args.n, args.k);
    let (pa, pb) = (m.div_ceil(mr), n.div_ceil(nr));
    let threads = if m.saturating_mul(n).saturating_mul(k) >= PAR_WORK {
        pool.threads()
    } else {
        1
    };
    let (rbs, cbs) = plan(pa, pb, mr, nr, threads);
    // k-blocks of near-equal length, at most KC.
    let kc = k.div_ceil(k.div_ceil(KC));
    // With one row block every B micro-panel is used by one task only, once per k-block: it is
    // packed just before use into that task's small buffer (hot in L1) instead of up front.
    let b_jit = rbs == 1;
    let a_len = (pa * mr * k).next_multiple_of(16);
    let b_len = if b_jit { cbs * kc * nr } else { pb * nr * k };
    with_pack_buffer(a_len + b_len, |buf| {
        let (a_buf, b_buf) = buf.split_at_mut(a_len);
        // A transposed A is read in place (see `Ctx::a_direct`).
        let a_direct = args.a_trans;
        pack_all(pool, threads, args, mr, nr, a_buf, b_buf, a_direct, !b_jit);
        let ctx = Ctx {
            m,
            n,
            k,
            a: a_buf.as_ptr(),
            b: b_buf.as_mut_ptr(),
            a_src: args.a.as_ptr(),
            a_direct,
            b_src: args.b,
            b_trans: args.b_trans,
            b_jit,
            c: c.as_mut_ptr(),
            pre: pre_act.map_or(std::ptr::null_mut(), |p| p.as_mut_ptr()),
            bias: args.bias.map_or(std::ptr::null(), |b| b.as_ptr()),
            act: args.act,
            kc,
            row_blocks: rbs,
            col_blocks: cbs,
        };
        let f = |t: usize| {
            // SAFETY: `packed` is only called for an ISA the CPU supports; `ctx` points to
            // buffers checked by `check` and packed above with this `mr`/`nr`; each task index
            // is run once.
            unsafe { task(&ctx, t) }
        };
        if rbs * cbs == 1 {
            f(0);
        } else {
            pool.run(rbs * cbs, &f);
        }
    });
}

/// Packs every row panel of A into `a_buf` and every column panel of B into `b_buf`, split over
/// `threads` tasks (each panel is written by one task). With `a_direct` only a partial last row
/// panel of A is packed (full ones are read in place by the kernel); B only when `pack_b`.
#[allow(clippy::too_many_arguments)]
fn pack_all(
    pool: &ThreadPool,
    threads: usize,
    args: &MatmulArgs,
    mr: usize,
    nr: usize,
    a_buf: &mut [f32],
    b_buf: &mut [f32],
    a_direct: bool,
    pack_b: bool,
) {
    let (m, n, k) = (args.m, args.n, args.k);
    let (pa, pb) = (m.div_ceil(mr), n.div_ceil(nr));
    let (sa, sb) = (SharedMut::new(a_buf), SharedMut::new(b_buf));
    let (a_first, panels) = (
        if a_direct { m / mr } else { 0 },
        if pack_b { pa + pb } else { pa },
    );
    if a_first == panels {
        return;
    }
    // `packed` runs only on the AVX2 and AVX-512 paths, both of which imply AVX2.
    let avx2 = true;
    let tasks = if threads > 1 {
        (threads * 2).min(panels)
    } else {
        1
    };
    let run = |t: usize| {
        for q in t * panels / tasks..(t + 1) * panels / tasks {
            // SAFETY: panel q is a disjoint range of its buffer, packed by this task only.
            if q < pa {
                if q < a_first {
                    continue;
                }
                let dst = unsafe { sa.slice(q * k * mr, k * mr) };
                pack::pack_a(args.a, m, k, args.a_trans, q, mr, dst, avx2);
            } else {
                let jp = q - pa;
                let dst = unsafe { sb.slice(jp * k * nr, k * nr) };
                pack::pack_b(args.b, n, k, args.b_trans, jp, nr, 0, dst, avx2);
            }
        }
    };
    if tasks == 1 {
        run(0);
    } else {
        pool.run(tasks, &run);
    }
}

/// Splits `pa` row panels × `pb` column panels into `rbs × cbs` near-equal task blocks: at
/// least enough blocks for the cache targets `MC`/`NC`, and with `threads > 1` a count that
/// keeps all threads equally busy (the largest block times the rounds of tasks is minimised).
/// When all rows fit one block, only columns are split. With several threads there are at least
/// `TASKS_PER_THREAD` tasks per thread where the shape allows.
fn plan(pa: usize, pb: usize, mr: usize, nr: usize, threads: usize) -> (usize, usize) {
    let rmin = pa.div_ceil(MC.div_ceil(mr)).max(1);
    let cmin = pb.div_ceil(NC.div_ceil(nr)).max(1);
    if threads <= 1 {
        return (rmin, cmin);
    }
    let mut best = (rmin, cmin);
    let mut best_cost = usize::MAX;
    // When all rows fit one block, split columns only (B is then packed just in time).
    let rmax = if rmin == 1 {
        1
    } else {
        pa.min(rmin + TASKS_PER_THREAD * threads)
    };
    // Enough tasks that a thread descheduled by the OS (a busy machine) holds up little work.
    let min_tasks = (TASKS_PER_THREAD * threads).min(rmax * pb);
    for rbs in rmin..=rmax {
        for cbs in cmin..=pb.min(cmin + TASKS_PER_THREAD * threads) {
            let tasks = rbs * cbs;
            if tasks < min_tasks {
                continue;
            }
            let rounds = tasks.div_ceil(threads);
            // Time ~ rounds × largest block (in micro-tiles); ties go to fewer tasks.
            let cost = (rounds * pa.div_ceil(rbs) * pb.div_ceil(cbs)) * 1024 + tasks;
            if cost < best_cost {
                best_cost = cost;
                best = (rbs, cbs);
            }
        }
    }
    best
}
