//! `ops::embedding`: the gather, its backward as a gather in the chunked order (checked against
//! a plain restatement on the CPU, with repeated ids across several chunks), the host id check
//! (negative and too-large i32 ids), an f32 buffer refused as ids, and CPU vs CUDA bit for bit (ids repeated across chunk boundaries; signed zeros and denormals
//! in the gradients).

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::embedding::{
    add_position, check_ids, embedding_backward, embedding_forward, AddPosition, EmbeddingBackward,
    EmbeddingGather,
};
use neuroxide::ops::reduce::CHUNK;
use neuroxide::{Backend, DType, HostData};
use parity_pair::{edge_values, rng, Pair, Rng};

fn grads(r: &mut Rng, n: usize) -> Vec<f32> {
    let edges = edge_values();
    (0..n)
        .map(|_| match r.below(6) {
            0 => edges[r.below(edges.len())],
            _ => r.range(-2.0, 2.0),
        })
        .collect()
}

/// The rule restated: per vocabulary row, chunks of 256 positions, matching rows added in order.
fn reference_backward(ids: &[i32], dout: &[f32], vocab: usize, dim: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; vocab * dim];
    for v in 0..vocab {
        for j in 0..dim {
            let mut total = 0.0f32;
            for (c, chunk) in ids.chunks(CHUNK).enumerate() {
                let mut acc = 0.0f32;
                for (k, &id) in chunk.iter().enumerate() {
                    if usize::try_from(id) == Ok(v) {
                        acc += dout[(c * CHUNK + k) * dim + j];
                    }
                }
                total = if c == 0 { acc } else { total + acc };
            }
            out[v * dim + j] = total;
        }
    }
    out
}

#[test]
fn embedding_backward_follows_the_chunked_rule_on_cpu() {
    let mut r = rng("embedding_backward_follows_the_chunked_rule_on_cpu");
    for (rows, vocab, dim) in [(1, 3, 2), (700, 5, 67), (2048, 65, 16)] {
        let ids: Vec<i32> = (0..rows).map(|_| r.below(vocab) as i32).collect();
        let dout = grads(&mut r, rows * dim);
        let mut be = CpuBackend::new(2);
        let (bi, bd, bt, bo) = (
            be.alloc_typed(DType::I32, &[rows]).unwrap(),
            be.alloc(rows * dim).unwrap(),
            be.alloc(vocab * dim).unwrap(),
            be.alloc(rows * dim).unwrap(),
        );
        be.upload_values(bi, 0, HostData::I32(&ids)).unwrap();
        be.upload(bd, 0, &dout).unwrap();
        let a = EmbeddingBackward {
            ids: bi,
            grad_out: bd,
            grad_table: bt,
            rows,
            vocab,
            dim,
        };
        embedding_backward(&mut be, &a).unwrap();
        let mut got = vec![0.0; vocab * dim];
        be.download(bt, 0, &mut got).unwrap();
        let want = reference_backward(&ids, &dout, vocab, dim);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "rows {rows} element {k}");
        }
        // Forward: rows of the table (the gradient buffer serves as a table here).
        let f = EmbeddingGather {
            ids: bi,
            table: bt,
            out: bo,
            rows,
            vocab,
            dim,
        };
        embedding_forward(&mut be, &f).unwrap();
        let mut y = vec![0.0; rows * dim];
        be.download(bo, 0, &mut y).unwrap();
        for (k, &id) in ids.iter().enumerate() {
            let v = id as usize; // ids drawn in 0..vocab
            let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&y[k * dim..(k + 1) * dim]),
                bits(&want[v * dim..(v + 1) * dim])
            );
        }
    }
}

#[test]
fn bad_ids_are_named_with_the_vocabulary_size() {
    let e = check_ids("Embedding", &[1, 2, 65], 65)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("id 65") && e.contains("vocabulary size 65") && e.contains("position 2"),
        "{e}"
    );
    let e = check_ids("Embedding", &[0, -3], 65)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("id -3") && e.contains("position 1") && e.contains("vocabulary size 65"),
        "{e}"
    );
    assert!(check_ids("Embedding", &[i32::MIN], 65).is_err());
    assert!(check_ids("Embedding", &[0, 64], 65).is_ok());
}

#[test]
fn an_f32_buffer_is_refused_as_ids() {
    let mut be = CpuBackend::new(1);
    let (ids, table, out) = (
        be.alloc(2).unwrap(),
        be.alloc(6).unwrap(),
        be.alloc(6).unwrap(),
    );
    let f = EmbeddingGather {
        ids,
        table,
        out,
        rows: 2,
        vocab: 2,
        dim: 3,
    };
    let e = embedding_forward(&mut be, &f).unwrap_err().to_string();
    assert!(
        e.contains("embedding_forward") && e.contains("f32") && e.contains("i32"),
        "{e}"
    );
}

#[test]
fn embedding_ops_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("embedding_ops_cpu_vs_cuda");
    for (rows, vocab, dim) in [
        (1, 1, 1),
        (CHUNK - 1, 7, 33),
        (CHUNK, 65, 128),
        (CHUNK + 1, 3, 5),
        (2048, 65, 128),
        (4096, 256, 96),
    ] {
        // A few invalid ids too: the kernels must be safe on them (zeros / skipped).
        let ids: Vec<i32> = (0..rows)
            .map(|k| match k % 97 {
                13 => vocab as i32,
                29 => -1,
                41 => i32::MIN,
                _ => r.below(vocab) as i32,
            })
            .collect();
        let ids = p.ids(&ids);
        let table = p.buf(&grads(&mut r, vocab * dim));
        let out = p.out(rows * dim);
        let f = EmbeddingGather {
            ids,
            table,
            out,
            rows,
            vocab,
            dim,
        };
        p.run(|be| embedding_forward(be, &f));
        p.check(&format!("embedding_forward {rows}x{vocab}x{dim}"), out);
        let dout = p.buf(&grads(&mut r, rows * dim));
        let dt = p.out(vocab * dim);
        let b = EmbeddingBackward {
            ids,
            grad_out: dout,
            grad_table: dt,
            rows,
            vocab,
            dim,
        };
        p.run(|be| embedding_backward(be, &b));
        p.check(&format!("embedding_backward {rows}x{vocab}x{dim}"), dt);
        let pos = p.buf(&grads(&mut r, dim));
        let po = p.out(rows * dim);
        let a = AddPosition {
            x: dout,
            pos,
            out: po,
            batch: rows,
            n: dim,
        };
        p.run(|be| add_position(be, &a));
        p.check(&format!("add_position {rows}x{dim}"), po);
    }
    p.finish("embedding_ops_cpu_vs_cuda");
}
