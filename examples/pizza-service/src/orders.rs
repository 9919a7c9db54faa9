//! Orders: the request model, its validation, and the bounded in-memory store of recent orders.
//!
//! The service is a demo, not a system of record: it keeps only the last `capacity` orders so that
//! memory stays flat under any load (the memory-growth fault knob is the only way to make it grow).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Longest accepted pizza name, in characters.
pub const MAX_PIZZA_NAME: usize = 64;
/// Largest accepted quantity of one order.
pub const MAX_QUANTITY: u32 = 100;

/// Body of `POST /orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    pub pizza: String,
    /// Defaults to 1 when absent.
    #[serde(default = "one")]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

impl NewOrder {
    /// Checks the fields; the error text is returned to the client in a 400.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.pizza.trim();
        if name.is_empty() {
            return Err("pizza must not be empty".to_owned());
        }
        if name.chars().count() > MAX_PIZZA_NAME {
            return Err(format!("pizza must be at most {MAX_PIZZA_NAME} characters"));
        }
        if !(1..=MAX_QUANTITY).contains(&self.quantity) {
            return Err(format!("quantity must be between 1 and {MAX_QUANTITY}"));
        }
        Ok(())
    }
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub pizza: String,
    pub quantity: u32,
    /// Always `created`: failed orders are not stored.
    pub status: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// The most recent orders, oldest first. Ids increase by one per stored order, so lookups are a
/// binary search and eviction is a pop from the front.
#[derive(Debug)]
pub struct OrderStore {
    inner: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    next_id: u64,
    capacity: usize,
    orders: VecDeque<Order>,
}

impl OrderStore {
    /// A store that keeps at most `capacity` orders (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Mutex::new(Ring {
                next_id: 1,
                capacity,
                orders: VecDeque::with_capacity(capacity.min(4096)),
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores a validated order, evicting the oldest one when full.
    pub fn insert(&self, new: &NewOrder) -> Order {
        let created_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut ring = self.ring();
        let order = Order {
            id: ring.next_id,
            pizza: new.pizza.trim().to_owned(),
            quantity: new.quantity,
            status: "created".to_owned(),
            created_at_ms,
        };
        ring.next_id += 1;
        if ring.orders.len() >= ring.capacity {
            ring.orders.pop_front();
        }
        ring.orders.push_back(order.clone());
        order
    }

    /// The order with this id, if it is still held.
    pub fn get(&self, id: u64) -> Option<Order> {
        let ring = self.ring();
        ring.orders
            .binary_search_by_key(&id, |o| o.id)
            .ok()
            .and_then(|i| ring.orders.get(i).cloned())
    }

    /// Up to `limit` orders, newest first.
    pub fn recent(&self, limit: usize) -> Vec<Order> {
        self.ring()
            .orders
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// How many orders are held.
    pub fn len(&self) -> usize {
        self.ring().orders.len()
    }

    /// Whether no order is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most orders this store holds.
    pub fn capacity(&self) -> usize {
        self.ring().capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn margherita() -> NewOrder {
        NewOrder {
            pizza: "margherita".to_owned(),
            quantity: 1,
        }
    }

    #[test]
    fn the_store_keeps_only_the_newest_orders() {
        let store = OrderStore::new(3);
        for _ in 0..10 {
            store.insert(&margherita());
        }
        assert_eq!(store.len(), 3);
        let ids: Vec<u64> = store.recent(100).iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![10, 9, 8]);
        assert!(store.get(7).is_none());
        assert_eq!(store.get(8).map(|o| o.id), Some(8));
    }

    #[test]
    fn validation_rejects_empty_names_and_bad_quantities() {
        assert!(margherita().validate().is_ok());
        assert!(NewOrder {
            quantity: 0,
            ..margherita()
        }
        .validate()
        .is_err());
        assert!(NewOrder {
            quantity: MAX_QUANTITY + 1,
            ..margherita()
        }
        .validate()
        .is_err());
        assert!(NewOrder {
            pizza: "  ".to_owned(),
            quantity: 1
        }
        .validate()
        .is_err());
        assert!(NewOrder {
            pizza: "x".repeat(MAX_PIZZA_NAME + 1),
            quantity: 1
        }
        .validate()
        .is_err());
    }
}
