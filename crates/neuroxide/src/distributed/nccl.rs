//! NCCL between processes (one GPU each), loaded at run time like the rest of CUDA: a machine
//! without `libnccl.so` builds and runs everything else, and only asking for a communicator
//! fails, with an error saying what to install.
//!
//! The exact reduction ([`NcclComm::reduce_exact`]) fixes the order of the cross-rank sum, which
//! `ncclAllReduce` leaves to the algorithm and topology NCCL picks:
//! 1. the flat vector of `n` values is cut into `world` slices, slice `j` being elements
//!    `j·c .. min((j+1)·c, n)` with `c = ceil(n / world)`;
//! 2. in one NCCL group, rank `k` sends slice `j` of its vector to rank `j` and receives slice
//!    `k` of every rank `j`'s vector into its slot `j` (its own slice is copied into slot `k`);
//! 3. rank `k` folds its slots in rank order, `((s0 + s1) + s2) + …` (`add_assign` into slot 0),
//!    then multiplies the first `scaled` elements of the vector by `fl(1/world)` (`scale`);
//! 4. in a second group every rank sends its reduced slice to every other rank (an all-gather).
//!
//! That is the traffic of a ring all-reduce (each rank sends and receives `(world-1)/world` of
//! the vector twice), and every element's sum is the left fold of the sharded step
//! (`graph/executor/shards.rs`), so `world` GPUs give the bits of one GPU or the CPU running
//! `world` shards. [`NcclComm::all_reduce_fast`] is one `ncclAllReduce` (sum) then the same
//! scaling: faster, and not bit-exact (NCCL's order is its own).
//!
//! A training step reduces its gradients bucket by bucket, each bucket a range of the flat
//! vector (`graph/executor/grad_buckets.rs`): the reduction of a range is queued on a side
//! stream (`backend/cuda/side_stream.rs`) after an event marking that the backward wrote it,
//! and runs while the backward of the earlier layers goes on; before the update the compute
//! stream waits for the side stream ([`crate::distributed::NcclReducer`]). The slices, the
//! fold and the scaling below apply to each range on its own, element for element the same
//! arithmetic as over the whole vector. NVLink multicast (NVLS) is never requested, and
//! `cuMulticastCreate` never called; `neuroxide launch` also sets `NCCL_NVLS_ENABLE=0`.

use crate::backend::cuda::CudaBackend;
use crate::backend::{Backend, BufId};
use crate::error::{Error, Result};
use crate::ops::copy::{self, Copy2d};
use crate::ops::elementwise;
use cudarc::nccl::{result as nc, sys as ns};

/// Whether `libnccl.so` can be loaded.
pub fn nccl_present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { ns::is_culib_present() }
}

fn check_present() -> Result<()> {
    if nccl_present() {
        Ok(())
    } else {
        Err(Error::backend(
            "NCCL (libnccl.so.2) could not be loaded: install NCCL (e.g. pip install \
             nvidia-nccl-cu13) or add its lib directory to LD_LIBRARY_PATH",
        ))
    }
}

fn nccl<T>(what: &str, r: std::result::Result<T, nc::NcclError>) -> Result<T> {
    r.map_err(|e| Error::backend(format!("nccl {what}: {e:?}")))
}

/// A new NCCL unique id (rank 0 creates it; the rendezvous hands it to the others).
pub fn unique_id() -> Result<Vec<u8>> {
    check_present()?;
    let id = nccl("ncclGetUniqueId", nc::get_uniqueid())?;
    Ok(id.internal.iter().map(|&c| c as u8).collect())
}

/// Elements of slice `j` of an `n`-element vector cut into `world` slices (module doc, step 1):
/// `(start, len)`.
pub fn slice_of(n: usize, world: usize, j: usize) -> (usize, usize) {
    let c = n.div_ceil(world.max(1));
    let start = (j * c).min(n);
    (start, c.min(n - start))
}

/// One process's NCCL communicator with the scratch buffers of the exact reduction.
pub struct NcclComm {
    comm: ns::ncclComm_t,
    rank: usize,
    world: usize,
    /// Slot buffers of the exact reduction (one per rank, `ceil(n / world)` values each).
    slots: Vec<BufId>,
    /// Their device addresses (looked up once, not per step).
    slot_ptrs: Vec<u64>,
    slot_len: usize,
}

/// One send and one receive with peer `peer`, of f32 values at device addresses.
struct Transfer {
    peer: usize,
    send: u64,
    send_len: usize,
    recv: u64,
    recv_len: usize,
}

// SAFETY: the communicator is used by one thread at a time (it is owned by one executor).
unsafe impl Send for NcclComm {}

impl NcclComm {
    /// Joins the job `id` as `rank` of `world` on the backend's GPU (blocks until every rank
    /// has joined: the rendezvous's timeout has already proven they are alive).
    pub fn new(backend: &CudaBackend, id: &[u8], rank: usize, world: usize) -> Result<Self> {
        check_present()?;
        if id.len() != 128 {
            return Err(Error::backend(format!(
                "nccl: a unique id has 128 bytes, got {}",
                id.len()
            )));
        }
        let mut uid = ns::ncclUniqueId { internal: [0; 128] };
        for (d, &s) in uid.internal.iter_mut().zip(id) {
            *d = s as ::core::ffi::c_char;
        }
        backend.bind()?;
        let mut comm: ns::ncclComm_t = std::ptr::null_mut();
        // SAFETY: `comm` receives the new communicator; the id came from ncclGetUniqueId.
        nccl("ncclCommInitRank", unsafe {
            nc::comm_init_rank(&mut comm, world as i32, uid, rank as i32)
        })?;
        Ok(NcclComm {
            comm,
            rank,
            world,
            slots: Vec::new(),
            slot_ptrs: Vec::new(),
            slot_len: 0,
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world(&self) -> usize {
        self.world
    }

    fn stream(backend: &CudaBackend) -> ns::cudaStream_t {
        backend.stream().cu_stream() as ns::cudaStream_t
    }

    /// Slot buffers for reducing ranges of up to `n` values (allocated before a step's
    /// backward: nothing is allocated while a reduction may be running).
    pub fn ensure_slots(&mut self, backend: &mut CudaBackend, n: usize) -> Result<()> {
        let len = n.div_ceil(self.world).max(1);
        if self.slots.len() == self.world && len <= self.slot_len {
            return Ok(());
        }
        for b in self.slots.drain(..) {
            backend.free(b)?;
        }
        self.slot_ptrs.clear();
        for _ in 0..self.world {
            let b = backend.alloc(len)?;
            self.slots.push(b);
            self.slot_ptrs.push(backend.buf("nccl reduce", b, len)?);
        }
        self.slot_len = len;
        Ok(())
    }

    /// One NCCL group of sends and receives (each transfer: the send to its peer, then the
    /// receive from it), queued on `stream`.
    fn exchange(
        &self,
        stream: ns::cudaStream_t,
        transfers: impl Iterator<Item = Transfer>,
    ) -> Result<()> {
        let ptr = |p: u64| p as *mut ::core::ffi::c_void;
        nccl("ncclGroupStart", nc::group_start())?;
        for t in transfers {
            // SAFETY: the callers pass addresses of live device buffers holding at least
            // `send_len` / `recv_len` values.
            unsafe {
                nccl(
                    "ncclSend",
                    nc::send(
                        ptr(t.send),
                        t.send_len,
                        ns::ncclDataType_t::ncclFloat32,
                        t.peer as i32,
                        self.comm,
                        stream,
                    ),
                )?;
                nccl(
                    "ncclRecv",
                    nc::recv(
                        ptr(t.recv),
                        t.recv_len,
                        ns::ncclDataType_t::ncclFloat32,
                        t.peer as i32,
                        self.comm,
                        stream,
                    ),
                )?;
            }
        }
        nccl("ncclGroupEnd", nc::group_end())?;
        Ok(())
    }

    /// Rank-order reduction of `flat[range]` on every rank (module doc); the first `scaled`
    /// values of the result are multiplied by `fl(1/world)`. Queued on the backend's current
    /// stream; the slots must hold `ceil(range.len() / world)` values ([`Self::ensure_slots`]).
    pub fn reduce_exact(
        &mut self,
        backend: &mut CudaBackend,
        flat: BufId,
        range: std::ops::Range<usize>,
        scaled: usize,
    ) -> Result<()> {
        let n = range.len();
        if n.div_ceil(self.world) > self.slot_len {
            return Err(Error::invalid(format!(
                "nccl: a range of {n} values needs slots of {} values, have {}",
                n.div_ceil(self.world),
                self.slot_len
            )));
        }
        let (k, w) = (self.rank, self.world);
        let (my_start, my_len) = slice_of(n, w, k);
        let base = backend.buf("nccl reduce", flat, range.end)? + (range.start * 4) as u64;
        let stream = Self::stream(backend);
        let at = |p: u64, i: usize| p + (i * 4) as u64;
        let peers = move || (0..w).filter(move |&j| j != k);
        // Step 2: scatter the slices (one group: sends and receives of all peers at once).
        self.exchange(
            stream,
            peers().map(|j| {
                let (start, len) = slice_of(n, w, j);
                Transfer {
                    peer: j,
                    send: at(base, start),
                    send_len: len,
                    recv: self.slot_ptrs[j],
                    recv_len: my_len,
                }
            }),
        )?;
        if my_len > 0 {
            copy::copy_2d(
                backend,
                &Copy2d {
                    src_offset: range.start + my_start,
                    ..Copy2d::plain(flat, self.slots[k], my_len)
                },
            )?;
            // Step 3: the left fold in rank order, then the scaling of the scaled prefix.
            for j in 1..w {
                elementwise::add_assign(backend, self.slots[0], self.slots[j], my_len)?;
            }
            let scaled_here = scaled.saturating_sub(my_start).min(my_len);
            if scaled_here > 0 {
                elementwise::scale(backend, self.slots[0], scaled_here, 1.0 / w as f32)?;
            }
            copy::copy_2d(
                backend,
                &Copy2d {
                    dst_offset: range.start + my_start,
                    ..Copy2d::plain(self.slots[0], flat, my_len)
                },
            )?;
        }
        // Step 4: all-gather the reduced slices.
        self.exchange(
            stream,
            peers().map(|j| {
                let (start, len) = slice_of(n, w, j);
                Transfer {
                    peer: j,
                    send: self.slot_ptrs[0],
                    send_len: my_len,
                    recv: at(base, start),
                    recv_len: len,
                }
            }),
        )
    }

    /// `ncclAllReduce` (sum) of `flat[range]`, then its first `scaled` values times
    /// `fl(1/world)`. Not bit-exact: NCCL chooses the order of the sum.
    pub fn all_reduce_fast(
        &mut self,
        backend: &mut CudaBackend,
        flat: BufId,
        range: std::ops::Range<usize>,
        scaled: usize,
    ) -> Result<()> {
        let n = range.len();
        let p = (backend.buf("nccl all-reduce", flat, range.end)? + (range.start * 4) as u64)
            as *mut ::core::ffi::c_void;
        let stream = Self::stream(backend);
        // SAFETY: in-place all-reduce of `n` values of a live device buffer.
        unsafe {
            nccl(
                "ncclAllReduce",
                nc::all_reduce(
                    p,
                    p,
                    n,
                    ns::ncclDataType_t::ncclFloat32,
                    ns::ncclRedOp_t::ncclSum,
                    self.comm,
                    stream,
                ),
            )?;
        }
        if scaled > 0 {
            let inv = 1.0 / self.world as f32;
            elementwise::scale_range(backend, flat, range.start, scaled, inv)?;
        }
        Ok(())
    }

    /// Aborts the communicator (a peer died): pending NCCL work is cancelled, nothing hangs.
    pub fn abort(&mut self) {
        if !self.comm.is_null() {
            // SAFETY: the communicator is live; it is not used again.
            let _ = unsafe { nc::comm_abort(self.comm) };
            self.comm = std::ptr::null_mut();
        }
    }

    /// NCCL's asynchronous error of this communicator, if any (a peer died or the network
    /// failed), for the liveness check between steps.
    pub fn async_error(&self) -> Result<()> {
        if self.comm.is_null() {
            return Err(Error::backend("nccl: the communicator was aborted"));
        }
        let mut e = ns::ncclResult_t::ncclSuccess;
        // SAFETY: the communicator is live.
        unsafe { ns::ncclCommGetAsyncError(self.comm, &mut e) };
        if e == ns::ncclResult_t::ncclSuccess || e == ns::ncclResult_t::ncclInProgress {
            Ok(())
        } else {
            Err(Error::backend(format!(
                "nccl: communicator failed ({e:?}): another rank died or the network failed"
            )))
        }
    }
}

impl Drop for NcclComm {
    fn drop(&mut self) {
        if !self.comm.is_null() {
            // SAFETY: the communicator is live and not used after this.
            let _ = unsafe { nc::comm_destroy(self.comm) };
        }
    }
}
