//! `$metadata`: a CSDL document (OData 4.0, XML) for what the server serves: the imported
//! identity with its state complex type, the registered device, the Autopilot settings, their
//! enums, the containers that lead to them, and the actions `import`, `updateDeviceProperties`,
//! `assignUserToDevice`, `unassignUserFromDevice` and `sync`. Built from the field tables, so the
//! document cannot drift from the JSON the routes answer.
//!
//! One document serves both roots: it describes everything either serves, and marks what only
//! `/beta` has with a `Core.Description` annotation (Graph's two documents differ instead).

use super::{imported, registered, settings};
use crate::graph::resource::{Field, Kind, Version};
use crate::server::schema::{EntityType, NAMESPACE};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// The alias the type references use, as in Graph's own document.
const ALIAS: &str = "graph";
/// What marks an element served on `/beta` only.
const BETA_ONLY: &str = r#"<Annotation Term="Org.OData.Core.V1.Description" String="Only on /beta." />"#;

/// `GET /$metadata` (no token needed, never faulted).
pub(super) async fn document() -> Response {
    let mut response = (StatusCode::OK, csdl()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// The entity types described, each with whether only beta serves it.
fn entity_types() -> [(EntityType, bool); 3] {
    [(imported::SERVED.entity, false), (registered::SERVED.entity, false), (settings::ENTITY, true)]
}

/// The CSDL type of a field.
fn edm_type(entity: &EntityType, field: &Field) -> String {
    match field.kind {
        Kind::Enum(_) => match entity.names.enum_type(field.path) {
            Some(local) => format!("{ALIAS}.{local}"),
            None => "Edm.String".into(),
        },
        _ => entity.edm_type(field),
    }
}

/// An element with its attributes, closed at once or holding the beta-only annotation.
fn element(out: &mut String, indent: &str, name: &str, attributes: &str, beta_only: bool) {
    if beta_only {
        let _ = writeln!(out, "{indent}<{name} {attributes}>{BETA_ONLY}</{name}>");
    } else {
        let _ = writeln!(out, "{indent}<{name} {attributes} />");
    }
}

fn property(out: &mut String, entity: &EntityType, field: &Field, beta_only_type: bool) {
    let nullable = if field.nullable { "" } else { r#" Nullable="false""# };
    let attributes = format!(r#"Name="{}" Type="{}"{nullable}"#, field.name(), edm_type(entity, field));
    element(out, "        ", "Property", &attributes, !beta_only_type && field.version == Version::BetaOnly);
}

fn enum_types(out: &mut String) {
    let mut written: Vec<&str> = Vec::new();
    for (entity, _) in entity_types() {
        for field in entity.fields {
            let (Kind::Enum(values), Some(name)) = (field.kind, entity.names.enum_type(field.path)) else {
                continue;
            };
            if written.contains(&name) {
                continue;
            }
            written.push(name);
            let _ = writeln!(out, r#"      <EnumType Name="{name}">"#);
            for (value, member) in values.iter().enumerate() {
                let _ = writeln!(out, r#"        <Member Name="{member}" Value="{value}" />"#);
            }
            out.push_str("      </EnumType>\n");
        }
    }
}

fn structured_types(out: &mut String) {
    for (entity, beta_only) in entity_types() {
        let open = format!(r#"      <EntityType Name="{}" BaseType="{ALIAS}.entity">"#, entity.name);
        out.push_str(&open);
        out.push('\n');
        if beta_only {
            let _ = writeln!(out, "        {BETA_ONLY}");
        }
        for name in entity.top_level(true).into_iter().skip(1) {
            match entity.names.complex_type(name) {
                Some(complex) => {
                    let attributes = format!(r#"Name="{name}" Type="{ALIAS}.{complex}" Nullable="false""#);
                    element(out, "        ", "Property", &attributes, false);
                }
                None => {
                    if let Some(field) = entity.field(name, true) {
                        property(out, &entity, field, beta_only);
                    }
                }
            }
        }
        out.push_str("      </EntityType>\n");
        for (parent, complex) in entity.names.complex {
            let _ = writeln!(out, r#"      <ComplexType Name="{complex}">"#);
            for field in entity.fields.iter().filter(|f| f.parent() == Some(parent)) {
                property(out, &entity, field, beta_only);
            }
            out.push_str("      </ComplexType>\n");
        }
    }
}

fn containers(out: &mut String) {
    let imported = format!("Collection({ALIAS}.{})", imported::SERVED.entity.name);
    let registered = format!("Collection({ALIAS}.{})", registered::SERVED.entity.name);
    let settings = format!("{ALIAS}.{}", settings::ENTITY.name);
    // Container, then its navigation properties: name, type, beta only.
    type Navigation<'a> = (&'a str, &'a str, bool);
    let navigations: [(&str, &[Navigation<'_>]); 2] = [
        (
            "deviceManagement",
            &[
                ("importedWindowsAutopilotDeviceIdentities", &imported, false),
                ("windowsAutopilotDeviceIdentities", &registered, false),
                ("windowsAutopilotSettings", &settings, true),
            ],
        ),
        ("importedWindowsAutopilotDeviceIdentityUpload", &[("deviceIdentities", &imported, false)]),
    ];
    for (container, properties) in navigations {
        let _ = writeln!(out, r#"      <EntityType Name="{container}" BaseType="{ALIAS}.entity">"#);
        for (name, type_name, beta_only) in properties {
            let attributes = format!(r#"Name="{name}" Type="{type_name}" ContainsTarget="true""#);
            element(out, "        ", "NavigationProperty", &attributes, *beta_only);
        }
        out.push_str("      </EntityType>\n");
    }
}

fn actions(out: &mut String) {
    let imported = format!("Collection({ALIAS}.{})", imported::SERVED.entity.name);
    let _ = writeln!(out, r#"      <Action Name="import" IsBound="true">"#);
    let _ = writeln!(out, r#"        <Parameter Name="bindingParameter" Type="{imported}" />"#);
    let _ = writeln!(
        out,
        r#"        <Parameter Name="importedWindowsAutopilotDeviceIdentities" Type="{imported}" />"#
    );
    let _ = writeln!(out, r#"        <ReturnType Type="{imported}" />"#);
    out.push_str("      </Action>\n");
    let entity = registered::SERVED.entity;
    for name in registered::ACTIONS {
        let _ = writeln!(out, r#"      <Action Name="{name}" IsBound="true">"#);
        let _ =
            writeln!(out, r#"        <Parameter Name="bindingParameter" Type="{ALIAS}.{}" />"#, entity.name);
        for field in registered::action_parameters(name, true).unwrap_or_default() {
            let attributes = format!(r#"Name="{}" Type="{}""#, field.name(), edm_type(&entity, field));
            element(out, "        ", "Parameter", &attributes, field.version == Version::BetaOnly);
        }
        out.push_str("      </Action>\n");
    }
    let _ = writeln!(out, r#"      <Action Name="sync" IsBound="true">"#);
    let _ = writeln!(
        out,
        r#"        <Parameter Name="bindingParameter" Type="{ALIAS}.{}" />"#,
        settings::ENTITY.name
    );
    let _ = writeln!(out, "        {BETA_ONLY}");
    out.push_str("      </Action>\n");
}

/// The whole document.
pub(super) fn csdl() -> String {
    let mut out = String::new();
    out.push_str(concat!(
        r#"<?xml version="1.0" encoding="utf-8"?>"#,
        "\n",
        r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">"#,
        "\n  <edmx:DataServices>\n",
    ));
    let _ = writeln!(
        out,
        r#"    <Schema Namespace="{NAMESPACE}" Alias="{ALIAS}" xmlns="http://docs.oasis-open.org/odata/ns/edm">"#
    );
    enum_types(&mut out);
    out.push_str(concat!(
        r#"      <EntityType Name="entity" Abstract="true">"#,
        "\n",
        r#"        <Key><PropertyRef Name="id" /></Key>"#,
        "\n",
        r#"        <Property Name="id" Type="Edm.String" Nullable="false" />"#,
        "\n      </EntityType>\n",
    ));
    structured_types(&mut out);
    containers(&mut out);
    actions(&mut out);
    out.push_str("      <EntityContainer Name=\"GraphService\">\n");
    for singleton in ["deviceManagement", "importedWindowsAutopilotDeviceIdentityUpload"] {
        let _ = writeln!(out, r#"        <Singleton Name="{singleton}" Type="{ALIAS}.{singleton}" />"#);
    }
    out.push_str("      </EntityContainer>\n    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_described_with_its_type() {
        let doc = csdl();
        assert!(doc.contains(r#"<Property Name="hardwareIdentifier" Type="Edm.Binary" />"#), "{doc}");
        assert!(doc.contains(r#"<Property Name="deviceErrorCode" Type="Edm.Int32" Nullable="false" />"#));
        assert!(
            doc.contains(
                r#"Type="graph.importedWindowsAutopilotDeviceIdentityImportStatus" Nullable="false""#
            )
        );
        assert!(doc.contains(r#"<Member Name="error" Value="4" />"#));
        for (entity, _) in entity_types() {
            for field in entity.fields.iter().filter(|f| f.kind != Kind::Key) {
                assert!(doc.contains(&format!(r#"<Property Name="{}" "#, field.name())), "{}", field.path);
            }
        }
    }

    #[test]
    fn registered_devices_their_enums_and_actions() {
        let doc = csdl();
        for fragment in [
            r#"<EntityType Name="windowsAutopilotDeviceIdentity" BaseType="graph.entity">"#,
            r#"<Property Name="enrollmentState" Type="graph.enrollmentState" Nullable="false" />"#,
            r#"<Property Name="lastContactedDateTime" Type="Edm.DateTimeOffset" Nullable="false" />"#,
            r#"<Member Name="assignedUnkownSyncState" Value="3" />"#,
            r#"<Property Name="deviceFriendlyName" Type="Edm.String">"#,
            r#"<Action Name="updateDeviceProperties" IsBound="true">"#,
            r#"<Parameter Name="groupTag" Type="Edm.String" />"#,
            r#"<Action Name="unassignUserFromDevice" IsBound="true">"#,
            r#"<EnumType Name="windowsAutopilotSyncStatus">"#,
            r#"<Property Name="lastManualSyncTriggerDateTime" Type="Edm.DateTimeOffset" Nullable="false" />"#,
            r#"<NavigationProperty Name="windowsAutopilotDeviceIdentities" Type="Collection(graph.windowsAutopilotDeviceIdentity)" ContainsTarget="true" />"#,
        ] {
            assert!(doc.contains(fragment), "missing {fragment}");
        }
    }
}
