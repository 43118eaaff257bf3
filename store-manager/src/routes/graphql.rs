//! `POST /stocks/graphql-query`: the suppliers' GraphQL query ([`crate::graphql`]), with the
//! lab's request and answer shapes.
//!
//! The request is `{"query": "...", "variables": ...}`; `variables` may be an object,
//! `null`, absent, the empty string (what the lab's Postman collection sends) or a string
//! holding a JSON object. The answer is `{"data": ..., "errors": null | ["..."]}`, the
//! errors as plain messages, as the lab's service wrote them.
//!
//! Statuses: a query that is well-formed JSON but not a valid query (a syntax error, an
//! unknown field, too deep or too large) is a 200 with its reasons in `errors`, as in the
//! lab; a body that is not such an object (no `query`, `variables` of another type, a query
//! longer than [`graphql::MAX_QUERY_BYTES`]) is a 400 `{"error": "..."}` like on every other
//! route; an unreachable database is a 503 in the lab's shape.

use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use async_graphql::Variables;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::graphql::{self, SupplierSchema};

/// Built once: the schema holds no state of its own (requests carry the database).
static SCHEMA: LazyLock<SupplierSchema> = LazyLock::new(graphql::supplier_schema);

#[derive(Debug, Deserialize)]
pub(super) struct GraphQlBody {
    query: String,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

pub(super) async fn supplier_query(
    state: web::Data<AppState>,
    body: web::Json<GraphQlBody>,
) -> Result<HttpResponse, ApiError> {
    let GraphQlBody {
        query,
        variables,
        operation_name,
    } = body.into_inner();
    if query.len() > graphql::MAX_QUERY_BYTES {
        return Err(ApiError::BadRequest(
            format!(
                "the query is longer than {} bytes",
                graphql::MAX_QUERY_BYTES
            )
            .into(),
        ));
    }
    let mut request = async_graphql::Request::new(query).variables(parse_variables(variables)?);
    if let Some(name) = operation_name.filter(|name| !name.is_empty()) {
        request = request.operation_name(name);
    }
    let response = SCHEMA.execute(request.data(state.db.clone())).await;
    let database_down = response.errors.iter().any(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from(graphql::DATABASE_UNAVAILABLE))
    });
    let errors = (!response.errors.is_empty()).then(|| {
        response
            .errors
            .iter()
            .map(|error| error.message.clone())
            .collect::<Vec<_>>()
    });
    let data = match response.data {
        async_graphql::Value::Null => Value::Null,
        data => data.into_json().map_err(|error| {
            ApiError::Internal(sea_orm::DbErr::Custom(format!(
                "a GraphQL answer is not JSON: {error}"
            )))
        })?,
    };
    let body = json!({ "data": data, "errors": errors });
    Ok(if database_down {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// The lab's clients send variables in every shape a JSON body allows; a string is taken
/// for the JSON text of the object (what some clients send), the empty one for none.
fn parse_variables(variables: Option<Value>) -> Result<Variables, ApiError> {
    let object = match variables {
        None | Some(Value::Null) => return Ok(Variables::default()),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(Variables::default()),
        Some(Value::String(text)) => serde_json::from_str::<Value>(&text).map_err(|error| {
            ApiError::BadRequest(format!("variables is not a JSON object: {error}").into())
        })?,
        Some(other) => other,
    };
    match object {
        Value::Object(_) => Ok(Variables::from_json(object)),
        Value::Null => Ok(Variables::default()),
        other => Err(ApiError::BadRequest(
            format!("variables must be an object, null or \"\", got {other}").into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_in_every_shape_the_labs_clients_send() {
        for empty in [None, Some(Value::Null), Some(json!("")), Some(json!("  "))] {
            assert!(parse_variables(empty).expect("accepted").is_empty());
        }
        let from_object = parse_variables(Some(json!({"id": "1"}))).expect("object");
        let from_text = parse_variables(Some(json!(r#"{"id": "1"}"#))).expect("text");
        assert_eq!(from_object, from_text);
        assert_eq!(
            from_object.into_value().into_json().ok(),
            Some(json!({"id": "1"}))
        );
        for refused in [json!(1), json!([1]), json!("[1]"), json!("{not json")] {
            assert!(
                matches!(
                    parse_variables(Some(refused.clone())),
                    Err(ApiError::BadRequest(_))
                ),
                "{refused}"
            );
        }
    }
}
