//! The single path: one node started, its body run (inline, on a worker, as a sub-workflow), and its outcome recorded.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{
    execute, Exec, Flight, Host, Message, NodeError, NodeErrorKind, Outcome, Output, RunOptions,
    Stamp,
};
use crate::artifact::{ArtifactId, Content, PutOptions};
use crate::dag::{NodeState, RunStatus};
use crate::error::Result;
use crate::events::Field;
use crate::persist::memo::memo_key;
use crate::value::{SharedValue, Value, VALUE_CONTENT_TYPE};
use crate::workflow::manifest::{Body, CompiledWorkflow};
use crate::workflow::workers;

impl<H: Host> Exec<'_, H> {
    /// Move `i` to Running and run it (inline), hand it to a worker, or serve it from the store.
    pub(super) fn start(&mut self, i: usize) -> Result<()> {
        self.transition(i, NodeState::Running, None, None)?;
        let report = &mut self.nodes[i];
        report.attempts += 1;
        report.started_at.get_or_set(crate::now());
        let first_attempt = report.attempts == 1;
        let inputs = self.gather(i);
        if let Some(error) = self.denied.remove(&i) {
            return self.fail(i, false, error, inputs);
        }
        if first_attempt {
            if let Some(id) = self.opts.reuse.get(&*self.wf.nodes[i].name).copied() {
                if let Some(value) = self.load(&id) {
                    self.nodes[i].reused = true;
                    self.emit(i, "node.reused", &[]);
                    return self.succeed(i, id, value, None);
                }
            }
            if let (true, Some(identity)) = (self.opts.cache, self.wf.nodes[i].identity) {
                let ids: Vec<ArtifactId> = inputs.iter().map(|o| o.id).collect();
                let key = memo_key(&identity, &ids);
                self.memo_keys[i] = Some(key);
                if let Some(id) = self.pit.memo.get(&key) {
                    if let Some(value) = self.load(&id) {
                        self.nodes[i].cached = true;
                        self.emit(i, "node.cached", &[]);
                        return self.succeed(i, id, value, None);
                    }
                }
            }
        }
        self.run_body(i, false, inputs)
    }

    /// The stored value of artifact `id`, if it is still there and readable.
    pub(super) fn load(&self, id: &ArtifactId) -> Option<Value> {
        let (blob, content) = self.pit.artifacts.get_typed(id).ok()?;
        match content {
            Content::Value => Value::decode(blob.bytes()).ok(),
            Content::Bytes => Some(Value::Bytes(blob.bytes().to_vec())),
        }
    }

    pub(super) fn run_body(
        &mut self,
        i: usize,
        fallback: bool,
        inputs: Vec<Output<H::Data>>,
    ) -> Result<()> {
        let node = &self.wf.nodes[i];
        let body = if fallback {
            (node.fallback.as_ref()).expect("run_body(fallback) only with a fallback")
        } else {
            self.wf.body(i)
        };
        match body {
            Body::Builtin(builtin) => {
                let values: Vec<&Value> = inputs.iter().map(|o| &*o.value).collect();
                let outcome = builtin.apply(self.pit, &values).map(|v| (None, v));
                self.complete(i, fallback, outcome, inputs)
            }
            Body::Workflow(sub) => {
                if let Some(lease) = self.leases.get_mut(i) {
                    *lease = None; // a fallback sub-workflow's nodes ask for their own
                }
                let outcome = self.run_sub(i, sub, &inputs)?;
                self.complete(i, fallback, outcome, inputs)
            }
            Body::Host { slot } => {
                let slot = *slot;
                let inline = node.timeout.is_none() && self.pools.limit[self.wf.pool_of[i]] == 1;
                if inline {
                    let outcome = self.host.call(slot, &inputs).map(|(d, v)| (Some(d), v));
                    return self.complete(i, fallback, outcome, inputs);
                }
                if node.timeout.is_some() {
                    if let Some(why) = workers::refuse_abandonable() {
                        let error = NodeError::new(NodeErrorKind::ResourceExhausted, why);
                        return self.complete(i, fallback, Err(error), inputs);
                    }
                }
                self.next_token += 1;
                let token = self.next_token;
                let deadline = node
                    .timeout
                    .map(|t| Instant::now() + Duration::from_secs_f64(t));
                self.in_flight.insert(
                    i,
                    Flight {
                        token,
                        job: None,
                        deadline,
                        fallback,
                    },
                );
                self.nodes[i].worker = true;
                let host = self.host.clone();
                let tx = self.tx.clone();
                let job = workers::submit(move || {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        host.call(slot, &inputs)
                    }))
                    .unwrap_or_else(|_| {
                        Err(NodeError::new(
                            NodeErrorKind::Internal,
                            "the node's host call panicked",
                        ))
                    });
                    let _ = tx.send(Message::Done((i, token, outcome)));
                });
                if let Some(flight) = self.in_flight.get_mut(&i) {
                    flight.job = Some(job);
                }
                Ok(())
            }
        }
    }

    pub(super) fn run_sub(
        &mut self,
        i: usize,
        sub: &CompiledWorkflow,
        inputs: &[Output<H::Data>],
    ) -> Result<Outcome<H::Data>> {
        let sub_inputs = inputs
            .iter()
            .map(|o| ((*o.value).clone(), o.data.clone()))
            .collect();
        let opts = RunOptions {
            reuse: HashMap::new(),
            ..self.opts.clone()
        };
        let report = execute(self.pit, sub, self.host, sub_inputs, &opts)?;
        self.sub_runs.push((i, report.run_id.clone()));
        if let Some(e) = report.interrupt {
            self.interrupt = Some(e.clone());
            return Ok(Err(e));
        }
        match report.status {
            RunStatus::Completed => {
                let mut outs = report
                    .outputs
                    .iter()
                    .filter_map(|&k| report.nodes[k].output.clone().map(|o| (k, o)))
                    .collect::<Vec<_>>();
                if outs.len() == 1 {
                    let (_, out) = outs.pop().expect("one output");
                    return Ok(Ok((out.data, (*out.value).clone())));
                }
                Ok(Ok((
                    None,
                    Value::Dict(
                        outs.into_iter()
                            .map(|(k, o)| {
                                (Value::Str(report.name_of(k).to_owned()), (*o.value).clone())
                            })
                            .collect(),
                    ),
                )))
            }
            status => {
                let mut error = report
                    .failed_node
                    .and_then(|k| report.nodes[k].error.as_deref().cloned())
                    .unwrap_or_else(|| {
                        NodeError::new(
                            NodeErrorKind::Runtime,
                            format!("sub-workflow run was {}", status.as_str()),
                        )
                    });
                error.message = format!(
                    "{} (in sub-workflow run '{}')",
                    error.message, report.run_id
                );
                Ok(Err(error))
            }
        }
    }

    pub(super) fn complete(
        &mut self,
        i: usize,
        fallback: bool,
        outcome: Outcome<H::Data>,
        inputs: Vec<Output<H::Data>>,
    ) -> Result<()> {
        match outcome {
            Ok((data, value)) => {
                let bytes = value.encode();
                let stored = self.pit.artifacts.put(
                    &bytes,
                    PutOptions {
                        content_type: Some(VALUE_CONTENT_TYPE.into()),
                        created_by: Some("workflow".into()),
                        producer: Some(self.producer_of(i)),
                        inputs: self.lineage_of(i).into_vec(),
                        ..PutOptions::default()
                    },
                );
                let id = match stored {
                    Ok(id) => id,
                    Err(e) => {
                        let error = NodeError::new(
                            NodeErrorKind::Storage,
                            format!("the result could not be stored: {e}"),
                        );
                        return self.fail(i, fallback, error, inputs);
                    }
                };
                if !fallback {
                    if let Some(&Some(key)) = self.memo_keys.get(i) {
                        self.pit.memo.put(key, id);
                    }
                } else {
                    self.nodes[i].fallback = true;
                    self.emit(i, "node.fallback", &[("outcome", Field::Word("succeeded"))]);
                }
                self.succeed(i, id, value, data)
            }
            Err(error) if error.interrupt => {
                self.interrupt = Some(error);
                Ok(())
            }
            Err(error) => self.fail(i, fallback, error, inputs),
        }
    }

    pub(super) fn succeed(
        &mut self,
        i: usize,
        id: ArtifactId,
        value: Value,
        data: Option<H::Data>,
    ) -> Result<()> {
        if !self.missing_inputs.is_empty() {
            for &j in self.wf.graph.successors(i) {
                self.missing_inputs[j] -= 1;
            }
        }
        let report = &mut self.nodes[i];
        report.output = Some(Output {
            id,
            value: SharedValue::new(value),
            data,
        });
        report.finished_at = Stamp::at(crate::now());
        self.free_slot(i);
        self.transition(i, NodeState::Succeeded, None, Some(id))?;
        Ok(())
    }

    pub(super) fn fail(
        &mut self,
        i: usize,
        fallback: bool,
        error: NodeError,
        inputs: Vec<Output<H::Data>>,
    ) -> Result<()> {
        let node = &self.wf.nodes[i];
        let attempts = self.nodes[i].attempts;
        if !fallback && attempts <= node.retries {
            let wait = node.backoff.seconds(attempts);
            self.nodes[i].error = Some(Box::new(error.clone()));
            self.free_slot(i);
            let end = self.transition(i, NodeState::Failed, Some(error.to_string()), None)?;
            if end == NodeState::Ready {
                self.delayed
                    .push((Instant::now() + Duration::from_secs_f64(wait), i));
            }
            return Ok(());
        }
        if !fallback && node.fallback.is_some() {
            self.emit(i, "node.fallback", &[("outcome", Field::Word("started"))]);
            self.nodes[i].error = Some(Box::new(error));
            return self.run_body(i, true, inputs);
        }
        let mut error = error;
        if fallback {
            let first = self.nodes[i].error.take();
            if let Some(first) = first {
                error.message = format!("{} (the fallback ran after: {first})", error.message);
            }
        }
        self.nodes[i].error = Some(Box::new(error.clone()));
        self.nodes[i].finished_at = Stamp::at(crate::now());
        self.failed_node.get_or_insert(i);
        self.free_slot(i);
        self.transition(i, NodeState::Failed, Some(error.to_string()), None)?;
        Ok(())
    }
}
