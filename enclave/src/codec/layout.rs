//! How a parameter is cut into DCT chunks (design.md §4.1).
//!
//! A 1-D parameter `[L]` is treated as a `[1, L]` matrix with chunks of
//! `1 x n`: the size-1 DCT is the identity, so the transform, the in-chunk
//! index and the element order are exactly those of `L/n` 1-D chunks.

use crate::error::{Error, Result};

/// The chunk edge the codec aims for.
pub const TARGET_CHUNK: usize = 64;

/// The largest divisor of `n` that is at most [`TARGET_CHUNK`].
pub fn chunk_size(n: usize) -> usize {
    (1..=n.min(TARGET_CHUNK))
        .rev()
        .find(|d| n % d == 0)
        .unwrap_or(1)
}

/// The chunking of one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The parameter's shape, as in the checkpoint.
    pub shape: Vec<usize>,
    /// Chunk rows (`Y`); 1 for vectors.
    pub rows: usize,
    /// Chunk columns (`X`).
    pub cols: usize,
    /// Chunk height (`n1`); 1 for vectors.
    pub n1: usize,
    /// Chunk width (`n2`).
    pub n2: usize,
}

impl Layout {
    /// The layout of parameter `name` with `shape`.
    pub fn new(name: &str, shape: &[usize]) -> Result<Self> {
        let unsupported = || Error::UnsupportedShape {
            name: name.to_string(),
            shape: shape.to_vec(),
        };
        let (r, c) = match *shape {
            [l] => (1, l),
            [r, c] => (r, c),
            _ => return Err(unsupported()),
        };
        if r == 0 || c == 0 {
            return Err(unsupported());
        }
        let (n1, n2) = (chunk_size(r), chunk_size(c));
        Ok(Self {
            shape: shape.to_vec(),
            rows: r / n1,
            cols: c / n2,
            n1,
            n2,
        })
    }

    /// True for 1-D parameters.
    pub fn is_vector(&self) -> bool {
        self.shape.len() == 1
    }

    /// Number of chunks.
    pub fn chunks(&self) -> usize {
        self.rows * self.cols
    }

    /// Elements per chunk (`totalk`).
    pub fn totalk(&self) -> usize {
        self.n1 * self.n2
    }

    /// Elements of the parameter.
    pub fn numel(&self) -> usize {
        self.chunks() * self.totalk()
    }

    /// Coefficients kept per chunk for a `topk` setting.
    pub fn k(&self, topk: usize) -> usize {
        topk.min(self.totalk())
    }

    /// Shape of the `vals` tensor: `[Y, X, k]`, or `[L/n1, k]` for vectors.
    pub fn vals_shape(&self, topk: usize) -> Vec<usize> {
        if self.is_vector() {
            vec![self.cols, self.k(topk)]
        } else {
            vec![self.rows, self.cols, self.k(topk)]
        }
    }

    /// Number of indices: chunks times k.
    pub fn index_count(&self, topk: usize) -> usize {
        self.chunks() * self.k(topk)
    }

    /// Bytes of the 12-bit packed indices (an odd count is padded).
    pub fn packed_index_bytes(&self, topk: usize) -> usize {
        self.index_count(topk).div_ceil(2) * 3
    }

    /// Row-major offset in the parameter of element `(i, j)` of chunk
    /// `(y, x)`.
    pub fn offset(&self, y: usize, x: usize, i: usize, j: usize) -> usize {
        (y * self.n1 + i) * (self.cols * self.n2) + x * self.n2 + j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_follow_the_largest_divisor_rule() {
        assert_eq!(chunk_size(768), 64);
        assert_eq!(chunk_size(96), 48);
        assert_eq!(chunk_size(50), 50);
        assert_eq!(chunk_size(97), 1);
        assert_eq!(chunk_size(50257), 29);
        assert_eq!(chunk_size(1), 1);
    }

    #[test]
    fn layouts_match_templar_xshapes() -> Result<()> {
        let l = Layout::new("w", &[256, 48])?;
        assert_eq!(
            (l.rows, l.cols, l.n1, l.n2, l.totalk()),
            (4, 1, 64, 48, 3072)
        );
        let b = Layout::new("b", &[96])?;
        assert_eq!((b.rows, b.cols, b.n1, b.n2, b.totalk()), (1, 2, 1, 48, 48));
        assert_eq!(b.vals_shape(32), vec![2, 32]);
        assert_eq!(Layout::new("w", &[3, 5])?.k(32), 15);
        assert!(Layout::new("t", &[2, 2, 2]).is_err());
        assert!(Layout::new("e", &[0]).is_err());
        Ok(())
    }
}
