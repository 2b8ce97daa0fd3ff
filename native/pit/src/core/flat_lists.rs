//! One short list per node, all in one array: a run reads them node after node, and an
//! allocation per node would scatter them over the heap.

/// Lists `0..len()`, list `i` being `items[span[i][0]..span[i][1]]` (both ends in one load).
#[derive(Debug, Clone, Default)]
pub(crate) struct FlatLists<T> {
    span: Vec<[u32; 2]>,
    items: Vec<T>,
}

impl<T: Copy> FlatLists<T> {
    /// Room for `lists` lists holding `items` items in all.
    pub(crate) fn with_capacity(lists: usize, items: usize) -> Self {
        FlatLists {
            span: Vec::with_capacity(lists),
            items: Vec::with_capacity(items),
        }
    }

    /// The same lists, flattened.
    pub(crate) fn from_lists(lists: &[Vec<T>]) -> Self {
        let mut flat = Self::with_capacity(lists.len(), lists.iter().map(Vec::len).sum());
        for list in lists {
            flat.items.extend_from_slice(list);
            flat.close_list();
        }
        flat
    }

    /// Add `item` to the list being built.
    pub(crate) fn push(&mut self, item: T) {
        self.items.push(item);
    }

    /// The list being built is complete: the next push starts another.
    pub(crate) fn close_list(&mut self) {
        let start = self.span.last().map_or(0, |span| span[1]);
        let end = u32::try_from(self.items.len()).expect("fewer than 2^32 items in all");
        self.span.push([start, end]);
    }

    #[inline]
    pub(crate) fn of(&self, i: usize) -> &[T] {
        let [start, end] = self.span[i];
        &self.items[start as usize..end as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_come_back_as_built_empty_ones_included() {
        let lists = vec![vec![3, 1], vec![], vec![7]];
        let flat = FlatLists::from_lists(&lists);
        let mut built = FlatLists::with_capacity(3, 3);
        for list in &lists {
            list.iter().for_each(|&x| built.push(x));
            built.close_list();
        }
        for (i, list) in lists.iter().enumerate() {
            assert_eq!(flat.of(i), list.as_slice());
            assert_eq!(built.of(i), list.as_slice());
        }
    }
}
