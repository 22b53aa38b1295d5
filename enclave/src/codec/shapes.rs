//! The parameters of a model as the codec sees them, and the byte budget of
//! a blob for them.

use std::collections::BTreeMap;

use super::blob::{HEADER_BASE, HEADER_PER_PARAM};
use super::layout::Layout;
use crate::error::Result;

/// The parameters of a model, as the codec sees them: names and layouts,
/// from the checkpoint (never from a blob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelShapes {
    pub(super) params: BTreeMap<String, Layout>,
}

impl ModelShapes {
    /// Shapes of every parameter.
    pub fn new<I, S>(params: I) -> Result<Self>
    where
        I: IntoIterator<Item = (S, Vec<usize>)>,
        S: Into<String>,
    {
        let params = params
            .into_iter()
            .map(|(name, shape)| {
                let name = name.into();
                let layout = Layout::new(&name, &shape)?;
                Ok((name, layout))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(Self { params })
    }

    /// Parameters by name.
    pub fn params(&self) -> &BTreeMap<String, Layout> {
        &self.params
    }

    /// Total parameter count.
    pub fn numel(&self) -> usize {
        self.params.values().map(Layout::numel).sum()
    }

    /// The largest well-formed blob for `topk`: f32 values everywhere, the
    /// quantisation tables, and a generous header.
    pub fn blob_budget(&self, topk: usize) -> usize {
        HEADER_BASE
            + self
                .params
                .values()
                .map(|l| {
                    HEADER_PER_PARAM
                        + l.packed_index_bytes(topk)
                        + 4 * l.index_count(topk)
                        + 4 * 257
                })
                .sum::<usize>()
    }
}
