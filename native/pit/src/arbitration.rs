//! Arbitration: who gets a pool's scarce capacity when requests collide.
//!
//! A [`Request`] names what it needs in one or more pools; it is granted all-or-nothing (every
//! amount reserved in the Pool Manager under one lock, or none), so a waiting request holds
//! nothing and waiting can never deadlock. Requests that cannot go at once wait in one queue; each
//! time capacity comes back the queue is ordered by the [`Strategy`] and walked: a request that
//! fits is granted, one that does not reserves its pools against everything ranked below it
//! (head-of-line), so a large request is not starved by small ones slipping past. Priority ages
//! with waiting time, so a low-priority request eventually outranks every newcomer.
//!
//! Every decision (granted, deferred, denied) goes to the event stream with its rationale;
//! [`Arbiter::fairness`] reports each tenant's granted share against its weight and their Gini.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{PitError, Result};
use crate::events::{Component, EventLog, Field, Subject};
use crate::pool::{PoolManager, Reservation};
use crate::resources::Resources;

/// Default priority aging: points gained per second of waiting (a BACKGROUND request outranks a
/// fresh CRITICAL one after 20 s).
pub const DEFAULT_AGING: f64 = 100.0;

/// How waiting requests are ordered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Strategy {
    /// Highest `priority + aging_per_second × seconds waited` first; ties by arrival.
    Priority { aging_per_second: f64 },
    /// Tenants take turns: the tenant served longest ago goes first.
    RoundRobin,
    /// The tenant with the smallest granted share per unit of weight goes first.
    WeightedFair,
    /// First come, first served.
    Queue,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy::Priority {
            aging_per_second: DEFAULT_AGING,
        }
    }
}

impl Strategy {
    /// Parse a strategy name (`priority`, `round_robin`, `weighted_fair`, `queue`).
    pub fn parse(name: &str, aging_per_second: f64) -> Result<Strategy> {
        if !aging_per_second.is_finite() || aging_per_second < 0.0 {
            return Err(PitError::validation(format!(
                "aging must be a finite number >= 0, got {aging_per_second}"
            )));
        }
        Ok(match name {
            "priority" => Strategy::Priority { aging_per_second },
            "round_robin" => Strategy::RoundRobin,
            "weighted_fair" => Strategy::WeightedFair,
            "queue" => Strategy::Queue,
            other => {
                return Err(PitError::validation(format!(
                    "unknown arbitration strategy '{other}'; choose priority, round_robin, \
                     weighted_fair or queue"
                )))
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Priority { .. } => "priority",
            Strategy::RoundRobin => "round_robin",
            Strategy::WeightedFair => "weighted_fair",
            Strategy::Queue => "queue",
        }
    }
}

/// What a requester asks for.
#[derive(Clone, Debug)]
pub struct Request {
    /// Who asks (a workflow, a user): the unit of fairness.
    pub tenant: Arc<str>,
    /// What asks, for events (`run/node`).
    pub label: Arc<str>,
    /// -1000 (background) … 1000 (critical).
    pub priority: i32,
    /// Amounts per pool, granted together or not at all.
    pub needs: Vec<(Arc<str>, Resources)>,
}

/// Granted capacity; given back when released or dropped.
pub struct Lease {
    arbiter: Weak<Arbiter>,
    ticket: u64,
    needs: Vec<(Arc<str>, Resources)>,
    released: bool,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("ticket", &self.ticket)
            .field("released", &self.released)
            .finish()
    }
}

impl Lease {
    pub fn ticket(&self) -> u64 {
        self.ticket
    }

    pub fn needs(&self) -> &[(Arc<str>, Resources)] {
        &self.needs
    }

    pub fn is_released(&self) -> bool {
        self.released
    }

    /// Give the capacity back now (dropping the lease does the same).
    pub fn release(&mut self) -> Result<()> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        match self.arbiter.upgrade() {
            // The Pool Manager tells the arbiter (on_freed), which resolves the queue.
            Some(arbiter) => arbiter.pools.unreserve(&self.needs),
            None => Ok(()),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            log::error!("releasing lease {}: {e}", self.ticket);
        }
    }
}

/// The answer to [`Arbiter::request`].
#[derive(Debug)]
pub enum Grant {
    /// Granted at once.
    Now(Lease),
    /// Waiting; the lease goes to the request's `notify` when granted.
    Queued(u64),
}

/// Called when a queued request is decided (outside every lock): with the lease when granted,
/// or with the error when it can no longer be (its pool was removed while it waited).
pub type Notify = Box<dyn FnOnce(Result<Lease>) + Send>;

struct Waiting {
    ticket: u64,
    request: Request,
    arrived: f64,
    notify: Option<Notify>,
    /// The last rationale reported for deferring it (events only when it changes).
    deferred_because: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Tenant {
    weight: f64,
    requested: u64,
    granted: u64,
    denied: u64,
    wait_total: f64,
    wait_max: f64,
    /// Grant counter value when this tenant was last served (round robin).
    last_turn: u64,
}

#[derive(Default)]
struct State {
    strategy: Strategy,
    waiting: Vec<Waiting>,
    tenants: HashMap<Arc<str>, Tenant>,
    next_ticket: u64,
    grants: u64,
    deferrals: u64,
    denials: u64,
    resolutions: u64,
    resolve_seconds: f64,
}

impl State {
    fn tenant(&mut self, name: &Arc<str>) -> &mut Tenant {
        self.tenants.entry(name.clone()).or_insert_with(|| Tenant {
            weight: 1.0,
            ..Tenant::default()
        })
    }
}

/// One tenant's share, for [`Fairness`].
#[derive(Clone, Debug, PartialEq)]
pub struct TenantShare {
    pub tenant: String,
    pub weight: f64,
    pub requested: u64,
    pub granted: u64,
    pub denied: u64,
    /// Granted / all granted.
    pub share: f64,
    /// Weight / all weights (of tenants that asked).
    pub fair_share: f64,
    pub mean_wait: f64,
    pub max_wait: f64,
}

/// How evenly capacity went, relative to weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Fairness {
    pub strategy: &'static str,
    /// Gini coefficient of granted count per unit of weight (0 = perfectly fair).
    pub gini: f64,
    /// Largest |share − fair share| / fair share over tenants.
    pub max_deviation: f64,
    pub tenants: Vec<TenantShare>,
}

/// Counters of the arbiter.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ArbiterStats {
    pub waiting: usize,
    pub grants: u64,
    pub deferrals: u64,
    pub denials: u64,
    pub resolutions: u64,
    /// Mean time of one queue resolution, in seconds.
    pub mean_resolve_seconds: f64,
}

/// Decides who gets pool capacity. Shared by every run of a Pit.
pub struct Arbiter {
    me: Weak<Arbiter>,
    pools: Arc<PoolManager>,
    events: Arc<EventLog>,
    state: Mutex<State>,
}

impl fmt::Debug for Arbiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arbiter")
            .field("stats", &self.stats())
            .finish()
    }
}

/// A decision made while resolving, reported after: (label, decision, tenant, ticket, why).
type Decision = (Arc<str>, &'static str, Arc<str>, u64, String);

/// A decision made while resolving, delivered after the lock is dropped: (ticket, its notify,
/// the lease or why it was denied).
type Delivery = (u64, Option<Notify>, Result<Lease>);

impl Arbiter {
    /// An arbiter over `pools`; it re-examines the queue whenever the pools give capacity back.
    pub fn new(pools: Arc<PoolManager>, events: Arc<EventLog>) -> Arc<Arbiter> {
        let arbiter = Arc::new_cyclic(|me| Arbiter {
            me: me.clone(),
            pools: pools.clone(),
            events,
            state: Mutex::new(State::default()),
        });
        let weak = Arc::downgrade(&arbiter);
        pools.set_on_freed(Box::new(move || {
            if let Some(a) = weak.upgrade() {
                a.resolve_and_deliver();
            }
        }));
        arbiter
    }

    pub fn strategy(&self) -> Strategy {
        self.state.lock().strategy
    }

    pub fn set_strategy(&self, strategy: Strategy) {
        self.state.lock().strategy = strategy;
        self.events.emit(
            Component::Arbiter,
            "arbitration.strategy",
            Subject::from(strategy.name()),
            &[],
        );
        self.resolve_and_deliver();
    }

    /// Set a tenant's weight (default 1) for weighted-fair ordering and fairness reports.
    pub fn set_weight(&self, tenant: &str, weight: f64) -> Result<()> {
        if !weight.is_finite() || weight <= 0.0 {
            return Err(PitError::validation(format!(
                "weight of tenant '{tenant}' must be a finite number > 0, got {weight}"
            )));
        }
        crate::pool::check_name("tenant", tenant)?;
        self.state.lock().tenant(&Arc::from(tenant)).weight = weight;
        Ok(())
    }

    /// Ask for capacity. Granted at once when the strategy ranks it first among what fits, else
    /// queued (its `notify` gets the lease later). A request that can never fit, or names a pool
    /// that does not exist, is denied with an error.
    pub fn request(&self, request: Request, notify: Notify) -> Result<Grant> {
        crate::pool::check_name("tenant", &request.tenant)?;
        if let Err(e) = self.pools.check_request(&request.needs) {
            let mut st = self.state.lock();
            st.denials += 1;
            st.tenant(&request.tenant).denied += 1;
            drop(st);
            self.decision(&request.label, "denied", &request.tenant, 0, &e.to_string());
            return Err(e);
        }
        let mut st = self.state.lock();
        st.next_ticket += 1;
        let ticket = st.next_ticket;
        st.tenant(&request.tenant).requested += 1;
        st.waiting.push(Waiting {
            ticket,
            request,
            arrived: crate::now(),
            notify: Some(notify),
            deferred_because: None,
        });
        let deliveries = self.resolve(&mut st);
        drop(st);
        let mut mine = None;
        for (decided, notify, outcome) in deliveries {
            if decided == ticket {
                mine = Some(outcome); // its own notify is dropped unused
            } else if let Some(notify) = notify {
                notify(outcome);
            }
        }
        match mine {
            Some(outcome) => outcome.map(Grant::Now),
            None => Ok(Grant::Queued(ticket)),
        }
    }

    /// Block until `request` is granted, `timeout` passes, or `cancelled()` says stop.
    pub fn acquire(
        &self,
        request: Request,
        timeout: Option<Duration>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Lease> {
        let label = request.label.clone();
        let (tx, rx) = channel::<Result<Lease>>();
        let ticket = match self.request(
            request,
            Box::new(move |outcome| {
                let _ = tx.send(outcome);
            }),
        )? {
            Grant::Now(lease) => return Ok(lease),
            Grant::Queued(ticket) => ticket,
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(outcome) => return outcome,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(PitError::Cancelled(format!(
                        "request {ticket} ({label}) was withdrawn"
                    )))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if timed_out || cancelled() {
                if !self.withdraw(ticket) {
                    // Granted in the meantime: the lease is in the channel.
                    if let Ok(outcome) = rx.recv_timeout(Duration::from_secs(1)) {
                        return outcome;
                    }
                }
                return Err(if timed_out {
                    PitError::ResourceExhausted(format!(
                        "request {ticket} ({label}) was not granted within {:.3} s",
                        timeout.unwrap_or_default().as_secs_f64()
                    ))
                } else {
                    PitError::Cancelled(format!("request {ticket} ({label}) was cancelled"))
                });
            }
        }
    }

    /// Take a queued request out of the queue. False when it is no longer waiting (granted).
    pub fn withdraw(&self, ticket: u64) -> bool {
        let mut st = self.state.lock();
        let Some(k) = st.waiting.iter().position(|w| w.ticket == ticket) else {
            return false;
        };
        let gone = st.waiting.remove(k);
        drop(st);
        drop(gone); // its notify (and whatever it captured) goes outside the lock
                    // Requests it was holding back may go now.
        self.resolve_and_deliver();
        true
    }

    fn resolve_and_deliver(&self) {
        let mut st = self.state.lock();
        if st.waiting.is_empty() {
            return;
        }
        let deliveries = self.resolve(&mut st);
        drop(st);
        for (_, notify, outcome) in deliveries {
            if let Some(notify) = notify {
                notify(outcome);
            }
        }
    }

    /// Order the queue by the strategy and grant what fits; a request that does not fit holds
    /// its pools against everything ranked after it.
    fn resolve(&self, st: &mut State) -> Vec<Delivery> {
        let began = Instant::now();
        let now = crate::now();
        let strategy = st.strategy;
        let mut order: Vec<(f64, u64, usize)> = st
            .waiting
            .iter()
            .enumerate()
            .map(|(k, w)| (rank_key(strategy, st, w, now), w.ticket, k))
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let queued = order.len();
        let mut held: HashMap<Arc<str>, Arc<str>> = HashMap::new();
        let mut granted: HashSet<usize> = HashSet::new();
        let mut denied: HashMap<usize, PitError> = HashMap::new();
        let mut deliveries = Vec::new();
        let mut events: Vec<Decision> = Vec::new();
        for (place, &(_, ticket, k)) in order.iter().enumerate() {
            let w = &st.waiting[k];
            let behind = w
                .request
                .needs
                .iter()
                .find_map(|(pool, _)| held.get(pool).map(|by| (pool.clone(), by.clone())));
            let outcome = match behind {
                Some((pool, by)) => Err(format!(
                    "pool '{pool}' is held for {by}, ranked ahead under {}",
                    strategy.name()
                )),
                None => match self.pools.try_reserve(&w.request.needs) {
                    Ok(Reservation::Reserved) => Ok(()),
                    Ok(Reservation::Busy { pool, reason }) => {
                        Err(format!("pool '{pool}' is full: {reason}"))
                    }
                    Err(e) => {
                        // A pool it names is gone: it can never be granted.
                        events.push((
                            w.request.label.clone(),
                            "denied",
                            w.request.tenant.clone(),
                            ticket,
                            e.to_string(),
                        ));
                        denied.insert(k, e);
                        continue;
                    }
                },
            };
            match outcome {
                Ok(()) => {
                    granted.insert(k);
                    let why = rationale(strategy, st, w, now, place, queued);
                    events.push((
                        w.request.label.clone(),
                        "granted",
                        w.request.tenant.clone(),
                        ticket,
                        why,
                    ));
                }
                Err(reason) => {
                    for (pool, _) in &w.request.needs {
                        held.entry(pool.clone())
                            .or_insert_with(|| w.request.label.clone());
                    }
                    let w = &mut st.waiting[k];
                    if w.deferred_because.as_deref() != Some(reason.as_str()) {
                        events.push((
                            w.request.label.clone(),
                            "deferred",
                            w.request.tenant.clone(),
                            ticket,
                            reason.clone(),
                        ));
                        w.deferred_because = Some(reason);
                        st.deferrals += 1;
                    }
                }
            }
        }
        if !granted.is_empty() || !denied.is_empty() {
            let waiting = std::mem::take(&mut st.waiting);
            for (k, mut w) in waiting.into_iter().enumerate() {
                if let Some(e) = denied.remove(&k) {
                    st.denials += 1;
                    st.tenant(&w.request.tenant).denied += 1;
                    deliveries.push((w.ticket, w.notify.take(), Err(e)));
                    continue;
                }
                if !granted.contains(&k) {
                    st.waiting.push(w);
                    continue;
                }
                st.grants += 1;
                let turn = st.grants;
                let waited = (now - w.arrived).max(0.0);
                let t = st.tenant(&w.request.tenant);
                t.granted += 1;
                t.wait_total += waited;
                t.wait_max = t.wait_max.max(waited);
                t.last_turn = turn;
                let lease = Lease {
                    arbiter: self.me.clone(),
                    ticket: w.ticket,
                    needs: std::mem::take(&mut w.request.needs),
                    released: false,
                };
                deliveries.push((w.ticket, w.notify.take(), Ok(lease)));
            }
        }
        st.resolutions += 1;
        st.resolve_seconds += began.elapsed().as_secs_f64();
        for (label, decision, tenant, ticket, why) in events {
            self.decision(&label, decision, &tenant, ticket, &why);
        }
        deliveries
    }

    fn decision(
        &self,
        label: &Arc<str>,
        decision: &'static str,
        tenant: &str,
        ticket: u64,
        why: &str,
    ) {
        self.events.emit(
            Component::Arbiter,
            "arbitration.decision",
            Subject::Name(label.clone()),
            &[
                ("decision", Field::Word(decision)),
                ("tenant", Field::Text(Arc::from(tenant))),
                ("ticket", Field::UInt(ticket)),
                ("rationale", Field::Text(Arc::from(why))),
            ],
        );
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.state.lock().waiting.len()
    }

    pub fn stats(&self) -> ArbiterStats {
        let st = self.state.lock();
        ArbiterStats {
            waiting: st.waiting.len(),
            grants: st.grants,
            deferrals: st.deferrals,
            denials: st.denials,
            resolutions: st.resolutions,
            mean_resolve_seconds: if st.resolutions == 0 {
                0.0
            } else {
                st.resolve_seconds / st.resolutions as f64
            },
        }
    }

    /// Granted share of each tenant that asked, against its weight, and the Gini coefficient of
    /// grants per unit of weight.
    pub fn fairness(&self) -> Fairness {
        let st = self.state.lock();
        let mut rows: Vec<(&Arc<str>, &Tenant)> =
            st.tenants.iter().filter(|(_, t)| t.requested > 0).collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let total_granted: u64 = rows.iter().map(|(_, t)| t.granted).sum();
        let total_weight: f64 = rows.iter().map(|(_, t)| t.weight).sum();
        let per_weight: Vec<f64> = rows
            .iter()
            .map(|(_, t)| t.granted as f64 / t.weight)
            .collect();
        let tenants: Vec<TenantShare> = rows
            .iter()
            .map(|(name, t)| TenantShare {
                tenant: name.to_string(),
                weight: t.weight,
                requested: t.requested,
                granted: t.granted,
                denied: t.denied,
                share: ratio(t.granted as f64, total_granted as f64),
                fair_share: ratio(t.weight, total_weight),
                mean_wait: ratio(t.wait_total, t.granted as f64),
                max_wait: t.wait_max,
            })
            .collect();
        let max_deviation = tenants
            .iter()
            .map(|t| ratio((t.share - t.fair_share).abs(), t.fair_share))
            .fold(0.0, f64::max);
        Fairness {
            strategy: st.strategy.name(),
            gini: gini(&per_weight),
            max_deviation,
            tenants,
        }
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Gini coefficient of non-negative values: 0 when all equal, towards 1 when one has everything.
pub fn gini(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let sum: f64 = values.iter().sum();
    if values.len() < 2 || sum <= 0.0 {
        return 0.0;
    }
    let mut diffs = 0.0;
    for a in values {
        for b in values {
            diffs += (a - b).abs();
        }
    }
    diffs / (2.0 * n * sum)
}

/// Sort key (ascending = served first) of a waiting request.
fn rank_key(strategy: Strategy, st: &State, w: &Waiting, now: f64) -> f64 {
    match strategy {
        Strategy::Priority { aging_per_second } => -effective_priority(w, aging_per_second, now),
        Strategy::Queue => 0.0, // ties fall back to the ticket: arrival order
        Strategy::RoundRobin => st
            .tenants
            .get(&w.request.tenant)
            .map_or(0.0, |t| t.last_turn as f64),
        Strategy::WeightedFair => st
            .tenants
            .get(&w.request.tenant)
            .map_or(0.0, |t| t.granted as f64 / t.weight),
    }
}

fn effective_priority(w: &Waiting, aging_per_second: f64, now: f64) -> f64 {
    f64::from(w.request.priority) + aging_per_second * (now - w.arrived).max(0.0)
}

fn rationale(
    strategy: Strategy,
    st: &State,
    w: &Waiting,
    now: f64,
    place: usize,
    queued: usize,
) -> String {
    let waited = (now - w.arrived).max(0.0);
    let rank = format!("ranked {} of {queued} waiting", place + 1);
    match strategy {
        Strategy::Priority { aging_per_second } => format!(
            "priority {:.1} = {} + aging {waited:.3} s × {aging_per_second}/s; {rank}; fits",
            effective_priority(w, aging_per_second, now),
            w.request.priority
        ),
        Strategy::Queue => format!("first come, first served: waited {waited:.3} s; {rank}; fits"),
        Strategy::RoundRobin => {
            let last = st.tenants.get(&w.request.tenant).map_or(0, |t| t.last_turn);
            format!(
                "round robin: tenant '{}' last served at grant {last}; {rank}; fits",
                w.request.tenant
            )
        }
        Strategy::WeightedFair => {
            let (granted, weight) = st
                .tenants
                .get(&w.request.tenant)
                .map_or((0, 1.0), |t| (t.granted, t.weight));
            format!(
                "weighted fair: tenant '{}' has {granted} grant(s) at weight {weight} \
                 (share per weight {:.2}); {rank}; fits",
                w.request.tenant,
                granted as f64 / weight
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_of_equal_and_skewed() {
        assert_eq!(gini(&[3.0, 3.0, 3.0]), 0.0);
        assert!((gini(&[0.0, 0.0, 9.0]) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(gini(&[]), 0.0);
    }

    #[test]
    fn parse_names_the_choices() {
        assert_eq!(Strategy::parse("queue", 0.0).unwrap(), Strategy::Queue);
        let err = Strategy::parse("lottery", 0.0).unwrap_err().to_string();
        assert!(err.contains("round_robin"), "{err}");
        assert!(Strategy::parse("priority", f64::NAN).is_err());
    }
}
