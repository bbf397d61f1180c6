//! JSON-RPC 1.0 messages as OVSDB uses them (RFC 7047 §4).
//!
//! A message is a request (method, params, non-null id), a notification (method, params,
//! null id), or a reply (result or error, and the id of the request it answers). Ids are
//! arbitrary JSON; this client sends integers and matches replies by value. Parsing is
//! strict about shape (a message that is none of the three is an error, which closes the
//! session) and lenient about extra members, as ovsdb-server is.

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RpcError {
    #[error("JSON-RPC message is not an object")]
    NotAnObject,
    #[error("JSON-RPC message has neither a method nor a result or error")]
    Shapeless,
    #[error("JSON-RPC method is not a string")]
    BadMethod,
    #[error("JSON-RPC reply has no id")]
    ReplyWithoutId,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    Reply {
        id: Value,
        result: Value,
    },
    Error {
        id: Value,
        error: Value,
    },
}

impl Message {
    pub fn request(id: u64, method: &str, params: Value) -> Message {
        Message::Request {
            id: json!(id),
            method: method.to_owned(),
            params,
        }
    }

    pub fn from_json(v: Value) -> Result<Message, RpcError> {
        let Value::Object(mut o) = v else {
            return Err(RpcError::NotAnObject);
        };
        let id = o.remove("id").unwrap_or(Value::Null);
        if let Some(m) = o.remove("method") {
            let Value::String(method) = m else {
                return Err(RpcError::BadMethod);
            };
            let params = o.remove("params").unwrap_or(Value::Null);
            return Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { id, method, params }
            });
        }
        let error = o.remove("error");
        let result = o.remove("result");
        if error.is_none() && result.is_none() {
            return Err(RpcError::Shapeless);
        }
        if id.is_null() {
            return Err(RpcError::ReplyWithoutId);
        }
        match error {
            Some(e) if !e.is_null() => Ok(Message::Error { id, error: e }),
            _ => Ok(Message::Reply {
                id,
                result: result.unwrap_or(Value::Null),
            }),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        match self {
            Message::Request { id, method, params } => {
                o.insert("id".into(), id.clone());
                o.insert("method".into(), json!(method));
                o.insert("params".into(), params.clone());
            }
            Message::Notification { method, params } => {
                o.insert("id".into(), Value::Null);
                o.insert("method".into(), json!(method));
                o.insert("params".into(), params.clone());
            }
            Message::Reply { id, result } => {
                o.insert("id".into(), id.clone());
                o.insert("result".into(), result.clone());
                o.insert("error".into(), Value::Null);
            }
            Message::Error { id, error } => {
                o.insert("id".into(), id.clone());
                o.insert("result".into(), Value::Null);
                o.insert("error".into(), error.clone());
            }
        }
        Value::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_round_trips() {
        let cases = [
            (
                json!({"id": 1, "method": "echo", "params": []}),
                Message::request(1, "echo", json!([])),
            ),
            (
                json!({"id": null, "method": "update3", "params": [1]}),
                Message::Notification {
                    method: "update3".into(),
                    params: json!([1]),
                },
            ),
            (
                json!({"id": "x", "result": {"a": 1}, "error": null}),
                Message::Reply {
                    id: json!("x"),
                    result: json!({"a": 1}),
                },
            ),
            (
                json!({"id": 2, "result": null, "error": "unknown method"}),
                Message::Error {
                    id: json!(2),
                    error: json!("unknown method"),
                },
            ),
        ];
        for (j, m) in cases {
            let parsed = Message::from_json(j).unwrap();
            assert_eq!(parsed, m);
            assert_eq!(Message::from_json(m.to_json()).unwrap(), m);
        }
    }

    #[test]
    fn rejects_shapeless_messages() {
        assert_eq!(Message::from_json(json!([1])), Err(RpcError::NotAnObject));
        assert_eq!(
            Message::from_json(json!({"id": 1})),
            Err(RpcError::Shapeless)
        );
        assert_eq!(
            Message::from_json(json!({"method": 5, "params": []})),
            Err(RpcError::BadMethod)
        );
        assert_eq!(
            Message::from_json(json!({"result": 1, "error": null})),
            Err(RpcError::ReplyWithoutId)
        );
    }
}
