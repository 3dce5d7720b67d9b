//! Modules behind one object-safe interface, so a runtime holds any mix of them and
//! dispatches by index. Typed values cross it boxed; everything else stays typed inside.

use std::any::Any;

use lamina_interop::block::{MAX_EVENT_LEN, MAX_REASON_LEN};
use lamina_interop::codec::{BoundedString, DecodeError};
use lamina_interop::module::{AccessSet, Context, Env, Module, ModuleError, StateView, WorkingSet};
use lamina_interop::Address;

/// A decoded call and the keys it may touch.
pub(crate) struct Prepared {
    pub(crate) call: Box<dyn Any + Send>,
    pub(crate) access: AccessSet,
}

/// Why a call, hook or genesis failed: the module's error code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// The module's error code.
    pub code: u32,
    /// The reason, cut to the receipt's limit.
    pub reason: BoundedString<MAX_REASON_LEN>,
}

impl CallFailure {
    fn from<E: ModuleError>(err: E) -> CallFailure {
        CallFailure {
            code: err.code(),
            reason: BoundedString::truncate_from(err.to_string()),
        }
    }
}

pub(crate) trait ErasedModule: Send + Sync {
    fn name(&self) -> &'static str;
    fn prepare(&self, call: &[u8], sender: &Address) -> Result<Prepared, DecodeError>;
    fn call(
        &self,
        call: Box<dyn Any + Send>,
        env: &Env,
        sender: Address,
        index: u16,
        state: &mut WorkingSet<'_>,
    ) -> Result<(), CallFailure>;
    fn genesis(
        &self,
        section: Option<&serde_json::Value>,
        env: &Env,
        index: u16,
        state: &mut WorkingSet<'_>,
    ) -> Result<(), String>;
    fn begin_block(
        &self,
        env: &Env,
        index: u16,
        state: &mut WorkingSet<'_>,
    ) -> Result<(), CallFailure>;
    fn end_block(
        &self,
        env: &Env,
        index: u16,
        state: &mut WorkingSet<'_>,
    ) -> Result<(), CallFailure>;
    fn query(
        &self,
        query: serde_json::Value,
        state: &dyn StateView,
    ) -> Result<serde_json::Value, String>;
    fn encode_call(&self, call: serde_json::Value) -> Result<Vec<u8>, String>;
    fn call_json(&self, call: &[u8]) -> Result<serde_json::Value, String>;
    fn event_json(&self, event: &[u8]) -> Result<serde_json::Value, String>;
}

impl<M: Module> ErasedModule for M {
    fn name(&self) -> &'static str {
        M::NAME
    }

    fn prepare(&self, call: &[u8], sender: &Address) -> Result<Prepared, DecodeError> {
        let call = M::decode_call(call)?;
        let access = self.access(&call, sender);
        Ok(Prepared {
            call: Box::new(call),
            access,
        })
    }

    fn call(
        &self,
        call: Box<dyn Any + Send>,
        env: &Env,
        sender: Address,
        index: u16,
        state: &mut WorkingSet<'_>,
    ) -> Result<(), CallFailure> {
        let Ok(call) = call.downcast::<M::Call>() else {
            unreachable!("a prepared call is dispatched to the module that decoded it")
        };
        // The call's measured weight is paid first: a limit that cannot pay it runs nothing.
        state
            .charge_gas(self.weight(&call))
            .map_err(|e| CallFailure::from(M::Error::from(e)))?;
        let mut ctx = Context::<M>::new(env, Some(sender), index, state);
        Module::call(self, *call, &mut ctx).map_err(CallFailure::from)
    }

    fn genesis(
        &self,
        section: Option<&serde_json::Value>,
        env: &Env,
        index: u16,
        state: &mut WorkingSet<'_>,
    ) -> Result<(), String> {
        let genesis: M::Genesis = match section {
            Some(value) => serde_json::from_value(value.clone())
                .map_err(|e| format!("genesis section of {}: {e}", M::NAME))?,
            None => M::Genesis::default(),
        };
        let mut ctx = Context::<M>::new(env, None, index, state);
        self.init_genesis(&genesis, &mut ctx)
            .map_err(|e| format!("genesis of {}: {e}", M::NAME))
    }

    fn begin_block(
        &self,
        env: &Env,
        index: u16,
        state: &mut WorkingSet<'_>,
    ) -> Result<(), CallFailure> {
        let mut ctx = Context::<M>::new(env, None, index, state);
        Module::begin_block(self, &mut ctx).map_err(CallFailure::from)
    }

    fn end_block(
        &self,
        env: &Env,
        index: u16,
        state: &mut WorkingSet<'_>,
    ) -> Result<(), CallFailure> {
        let mut ctx = Context::<M>::new(env, None, index, state);
        Module::end_block(self, &mut ctx).map_err(CallFailure::from)
    }

    fn query(
        &self,
        query: serde_json::Value,
        state: &dyn StateView,
    ) -> Result<serde_json::Value, String> {
        let query: M::Query =
            serde_json::from_value(query).map_err(|e| format!("query to {}: {e}", M::NAME))?;
        let answer = Module::query(self, query, state).map_err(|e| e.to_string())?;
        serde_json::to_value(answer).map_err(|e| e.to_string())
    }

    fn encode_call(&self, call: serde_json::Value) -> Result<Vec<u8>, String> {
        let call: M::Call =
            serde_json::from_value(call).map_err(|e| format!("call to {}: {e}", M::NAME))?;
        let bytes = lamina_interop::codec::encode(&call);
        if bytes.len() > M::MAX_CALL_LEN {
            return Err(format!(
                "call to {} is {} bytes, more than its limit of {}",
                M::NAME,
                bytes.len(),
                M::MAX_CALL_LEN
            ));
        }
        Ok(bytes)
    }

    fn call_json(&self, call: &[u8]) -> Result<serde_json::Value, String> {
        let call = M::decode_call(call).map_err(|e| e.to_string())?;
        serde_json::to_value(call).map_err(|e| format!("call of {}: {e}", M::NAME))
    }

    fn event_json(&self, event: &[u8]) -> Result<serde_json::Value, String> {
        let event: M::Event = lamina_interop::codec::decode_limited(event, M::NAME, MAX_EVENT_LEN)
            .map_err(|e| e.to_string())?;
        serde_json::to_value(event).map_err(|e| format!("event of {}: {e}", M::NAME))
    }
}
