//! A synthetic language with learnable structure, generated from a seed: a
//! sparse first-order Markov chain over the tiny model's vocabulary. Each
//! token has four possible successors (probabilities 0.55, 0.25, 0.12,
//! 0.08), so a model that learns the transitions drops from ln(256) ≈ 5.5
//! nats per token towards the chain's entropy (≈ 1.1 nats).

use vram_enclave::model::SplitMix64;

const WEIGHTS: [f64; 4] = [0.55, 0.25, 0.12, 0.08];

/// `count` pages of `page_len` tokens below `vocab`, reproducible from `seed`.
pub fn synthetic_pages(seed: u64, vocab: u32, page_len: usize, count: usize) -> Vec<Vec<u32>> {
    let mut rng = SplitMix64::new(seed ^ 0x5eed_c0de);
    let successors: Vec<[u32; 4]> = (0..vocab)
        .map(|_| std::array::from_fn(|_| (rng.next_u64() % u64::from(vocab)) as u32))
        .collect();
    (0..count)
        .map(|_| {
            let mut token = (rng.next_u64() % u64::from(vocab)) as u32;
            let mut page = Vec::with_capacity(page_len);
            for _ in 0..page_len {
                page.push(token);
                let u = rng.next_f64();
                let mut acc = 0.0;
                let mut pick = 3;
                for (i, w) in WEIGHTS.iter().enumerate() {
                    acc += w;
                    if u < acc {
                        pick = i;
                        break;
                    }
                }
                token = successors[token as usize][pick];
            }
            page
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_reproducible_and_structured() {
        let a = synthetic_pages(7, 256, 65, 20);
        assert_eq!(a, synthetic_pages(7, 256, 65, 20));
        assert_ne!(a, synthetic_pages(8, 256, 65, 20));
        assert!(a
            .iter()
            .all(|p| p.len() == 65 && p.iter().all(|&t| t < 256)));
        // Structure: every token is followed by at most four others.
        let mut next: std::collections::HashMap<u32, std::collections::HashSet<u32>> =
            std::collections::HashMap::new();
        for p in &a {
            for w in p.windows(2) {
                next.entry(w[0]).or_default().insert(w[1]);
            }
        }
        assert!(next.values().all(|s| s.len() <= 4));
        assert!(next.values().any(|s| s.len() > 1));
    }
}
