//! `$metadata`: a minimal CSDL document (OData 4.0, XML) for what the server serves: the
//! imported-identity entity type, its state complex type and the import-status enum, the two
//! containers that lead to the collection, and the `import` action. Built from the field table,
//! so the document cannot drift from the JSON the routes answer.

use super::{STATE_TYPE_NAME, STATUS_TYPE_NAME, device_type_name};
use crate::graph::model::{FIELDS, FieldKind, FieldPlace, FieldSpec, ImportStatus};
use std::fmt::Write;

/// The schema namespace and the alias its type references use, as in Graph's own document.
const NAMESPACE: &str = "microsoft.graph";
const ALIAS: &str = "graph";

/// `microsoft.graph.x` -> `x`.
fn local(type_name: &str) -> &str {
    type_name.strip_prefix(NAMESPACE).and_then(|rest| rest.strip_prefix('.')).unwrap_or(type_name)
}

/// The CSDL type of a field.
fn edm_type(spec: &FieldSpec) -> String {
    match spec.kind {
        FieldKind::Key | FieldKind::Text | FieldKind::Upn => "Edm.String".into(),
        FieldKind::Binary => "Edm.Binary".into(),
        FieldKind::Int32 => "Edm.Int32".into(),
        FieldKind::ImportStatus => format!("{ALIAS}.{}", local(STATUS_TYPE_NAME)),
    }
}

fn properties(out: &mut String, place: FieldPlace) {
    for spec in FIELDS.iter().filter(|f| f.place == place && f.kind != FieldKind::Key) {
        let nullable = if spec.nullable { "" } else { " Nullable=\"false\"" };
        let _ =
            writeln!(out, r#"        <Property Name="{}" Type="{}"{nullable} />"#, spec.json, edm_type(spec));
    }
}

/// The whole document.
pub(super) fn csdl() -> String {
    let device = local(device_type_name());
    let state = local(STATE_TYPE_NAME);
    let status = local(STATUS_TYPE_NAME);
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
    let _ = writeln!(out, r#"      <EnumType Name="{status}">"#);
    for (value, member) in ImportStatus::ALL.iter().enumerate() {
        let _ = writeln!(out, r#"        <Member Name="{}" Value="{value}" />"#, member.as_str());
    }
    out.push_str("      </EnumType>\n");
    out.push_str(concat!(
        r#"      <EntityType Name="entity" Abstract="true">"#,
        "\n",
        r#"        <Key><PropertyRef Name="id" /></Key>"#,
        "\n",
        r#"        <Property Name="id" Type="Edm.String" Nullable="false" />"#,
        "\n      </EntityType>\n",
    ));
    let _ = writeln!(out, r#"      <EntityType Name="{device}" BaseType="{ALIAS}.entity">"#);
    properties(&mut out, FieldPlace::Device);
    let _ = writeln!(out, r#"        <Property Name="state" Type="{ALIAS}.{state}" Nullable="false" />"#);
    out.push_str("      </EntityType>\n");
    let _ = writeln!(out, r#"      <ComplexType Name="{state}">"#);
    properties(&mut out, FieldPlace::State);
    out.push_str("      </ComplexType>\n");
    let collection = format!("Collection({ALIAS}.{device})");
    for (container, navigation) in [
        ("deviceManagement", "importedWindowsAutopilotDeviceIdentities"),
        ("importedWindowsAutopilotDeviceIdentityUpload", "deviceIdentities"),
    ] {
        let _ = writeln!(out, r#"      <EntityType Name="{container}" BaseType="{ALIAS}.entity">"#);
        let _ = writeln!(
            out,
            r#"        <NavigationProperty Name="{navigation}" Type="{collection}" ContainsTarget="true" />"#
        );
        out.push_str("      </EntityType>\n");
    }
    let _ = writeln!(out, r#"      <Action Name="import" IsBound="true">"#);
    let _ = writeln!(out, r#"        <Parameter Name="bindingParameter" Type="{collection}" />"#);
    let _ = writeln!(
        out,
        r#"        <Parameter Name="importedWindowsAutopilotDeviceIdentities" Type="{collection}" />"#
    );
    let _ = writeln!(out, r#"        <ReturnType Type="{collection}" />"#);
    out.push_str("      </Action>\n");
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
        for spec in FIELDS.iter().filter(|f| f.kind != FieldKind::Key) {
            assert!(doc.contains(&format!(r#"<Property Name="{}" "#, spec.json)), "{}", spec.json);
        }
    }
}
