//! Typed keys: a request's, a connection's and an origin's place in the client's slabs.
//!
//! All three used to be bare `usize`s, and nothing stopped a connection key from being
//! used to index the requests (the code is full of both, often side by side: `req`
//! and `key` in one function). Each is now its own type, and each slab is indexed by its
//! own key only ([`Keyed`]), so such a mix-up does not compile. A connection's key is
//! also its token offset and its timer's token, which is the one place the number
//! itself matters ([`Key::index`]).

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

macro_rules! keys {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {$(
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(super) struct $name(usize);

        impl Key for $name {
            fn index(self) -> usize {
                self.0
            }
            fn from_index(i: usize) -> Self {
                $name(i)
            }
        }
    )*};
}

/// What a key is: a slab index under a name of its own.
pub(super) trait Key: Copy {
    /// The slab index, for tokens and for tables indexed by key.
    fn index(self) -> usize;
    /// The key whose index is `i` (a token offset, a timer's token).
    fn from_index(i: usize) -> Self;
}

keys! {
    /// A request between admission and outcome (the user knows it by its `RequestId`).
    ReqKey,
    /// A connection or connection attempt; its index is its token offset.
    ConnKey,
    /// An origin in use (`origin.rs`).
    OriginKey,
}

/// A slab whose entries are reached by one kind of key only.
pub(super) struct Keyed<K, T> {
    slab: slab::Slab<T>,
    key: PhantomData<K>,
}

impl<K, T> Default for Keyed<K, T> {
    fn default() -> Self {
        Keyed { slab: slab::Slab::new(), key: PhantomData }
    }
}

impl<K: Key, T> Keyed<K, T> {
    pub fn insert(&mut self, value: T) -> K {
        K::from_index(self.slab.insert(value))
    }

    /// The key the next `insert` will return.
    pub fn vacant_key(&self) -> K {
        K::from_index(self.slab.vacant_key())
    }

    pub fn remove(&mut self, key: K) -> T {
        self.slab.remove(key.index())
    }

    pub fn get(&self, key: K) -> Option<&T> {
        self.slab.get(key.index())
    }

    pub fn get_mut(&mut self, key: K) -> Option<&mut T> {
        self.slab.get_mut(key.index())
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (K, &T)> {
        self.slab.iter().map(|(i, value)| (K::from_index(i), value))
    }

    pub fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.slab.iter().map(|(i, _)| K::from_index(i))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slab.iter_mut().map(|(_, value)| value)
    }
}

impl<K: Key, T> Index<K> for Keyed<K, T> {
    type Output = T;
    fn index(&self, key: K) -> &T {
        &self.slab[key.index()]
    }
}

impl<K: Key, T> IndexMut<K> for Keyed<K, T> {
    fn index_mut(&mut self, key: K) -> &mut T {
        &mut self.slab[key.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slab_is_reached_by_its_own_keys() {
        let mut conns: Keyed<ConnKey, &str> = Keyed::default();
        let next = conns.vacant_key();
        let a = conns.insert("a");
        assert_eq!(a, next);
        let b = conns.insert("b");
        assert_eq!((conns[a], conns[b], conns.len()), ("a", "b", 2));
        assert_eq!(conns.remove(a), "a");
        assert!(conns.get(a).is_none());
        assert_eq!(conns.keys().collect::<Vec<_>>(), [b]);
        assert_eq!(ConnKey::from_index(b.index()), b);
    }
}
