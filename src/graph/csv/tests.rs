use super::*;
use crate::graph::validate::encode_binary;

/// A hash as real ones look: about 4 KB, starting with `OA`, then bytes that are not text.
fn hash(seed: u64) -> String {
    hash_of(seed, 4000)
}

fn hash_of(seed: u64, len: usize) -> String {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut bytes = vec![b'O', b'A', 0x06, 0x04];
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    encode_binary(&bytes)
}

const FULL: &str = HEADER;

/// A file of `lines` joined with LF after the full header.
fn file(lines: &[String]) -> Vec<u8> {
    let mut text = format!("{FULL}\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.into_bytes()
}

fn row(serial: &str, hash: &str, tag: &str, user: &str) -> String {
    format!("{serial},,{hash},{tag},{user}")
}

/// `(line, column, kind)` of every problem.
fn found(report: &Report) -> Vec<(usize, Option<CsvColumn>, ProblemKind)> {
    report.problems.iter().map(|p| (p.line, p.column, p.kind)).collect()
}

fn lines(report: &Report) -> Vec<usize> {
    report.rows.iter().map(|r| r.line).collect()
}

/// The one problem of a file, checked to be the only one.
fn only(report: &Report) -> &Problem {
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    &report.problems[0]
}

#[test]
fn a_clean_file_gives_every_row_ready_to_send() {
    let (a, b) = (hash(1), hash(2));
    let bytes = format!(
        "{FULL}\r\nPF3A0001,00330-80000-00000-AA123,{a},Sales,ana@contoso.com\r\nPF3A0002,,{b},,\r\n"
    );
    let report = check(bytes.as_bytes());
    assert!(report.is_clean(), "{:#?}", report.problems);
    assert_eq!(report.encoding, Encoding::Plain);
    assert_eq!((report.data_rows, report.refused_rows()), (2, 0));
    assert_eq!(
        report.rows,
        vec![
            HardwareHashRow {
                line: 2,
                serial_number: "PF3A0001".into(),
                product_key: Some("00330-80000-00000-AA123".into()),
                hardware_identifier: a.clone(),
                group_tag: Some("Sales".into()),
                assigned_user_principal_name: Some("ana@contoso.com".into()),
            },
            HardwareHashRow {
                line: 3,
                serial_number: "PF3A0002".into(),
                product_key: None,
                hardware_identifier: b.clone(),
                group_tag: None,
                assigned_user_principal_name: None,
            },
        ]
    );
    let json = Value::Object(report.rows[1].to_import_json());
    assert_eq!(
        json,
        serde_json::json!({"@odata.type": IMPORT_ODATA_TYPE, "serialNumber": "PF3A0002", "hardwareIdentifier": b})
    );
    assert_eq!(report.rows[0].to_import_json()["assignedUserPrincipalName"], "ana@contoso.com");
}

#[test]
fn the_last_two_columns_are_optional() {
    for header in [
        "Device Serial Number,Windows Product ID,Hardware Hash",
        "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag",
    ] {
        let width = header.split(',').count();
        let values = ["PF1", "", &hash(1), "Sales"];
        let report = check(format!("{header}\n{}\n", values[..width].join(",")).as_bytes());
        assert!(report.is_clean(), "{header}: {:#?}", report.problems);
        assert_eq!(report.rows[0].group_tag.as_deref(), (width == 4).then_some("Sales"));
    }
}

#[test]
fn header_case_and_spaces_are_named_and_rows_still_read() {
    let report = check(
        format!("Device Serial Number,Windows Product Id, Hardware Hash\nPF1,,{}\n", hash(1)).as_bytes(),
    );
    assert_eq!(
        found(&report),
        [
            (1, Some(CsvColumn::ProductId), ProblemKind::HeaderCase),
            (1, Some(CsvColumn::HardwareHash), ProblemKind::HeaderCase)
        ]
    );
    assert_eq!(
        report.problems[0].message,
        "column 2 is 'Windows Product Id', which differs in case: write it exactly 'Windows Product ID' \
         (the portal reads headers case-sensitively)."
    );
    assert!(report.problems[1].message.contains("' Hardware Hash', which has spaces around it"));
    assert_eq!(lines(&report), [2], "header problems keep no row out");
    assert!(report.problems.iter().all(Problem::is_about_the_file));
}

#[test]
fn unknown_missing_repeated_and_misplaced_columns() {
    let h = hash(1);
    // Unknown column: named, its values not read.
    let report = check(format!("{FULL},Notes\nPF1,,{h},,,anything\n").as_bytes());
    let problem = only(&report);
    assert_eq!((problem.line, problem.column, problem.kind), (1, None, ProblemKind::UnknownColumn));
    assert!(problem.message.starts_with("column 6 is 'Notes', which is not one of the portal's columns"));
    assert_eq!(lines(&report), [2]);

    // No Windows Product ID: said, rows still read.
    let report = check(format!("Device Serial Number,Hardware Hash\nPF1,{h}\n").as_bytes());
    assert_eq!(found(&report), [(1, Some(CsvColumn::ProductId), ProblemKind::MissingColumn)]);
    assert_eq!(lines(&report), [2]);

    // No serial column: no row can be read.
    let report = check(format!("Windows Product ID,Hardware Hash\n,{h}\n").as_bytes());
    assert_eq!(found(&report), [(1, Some(CsvColumn::SerialNumber), ProblemKind::MissingColumn)]);
    assert!(report.problems[0].message.contains("no row can be read without it"));
    assert_eq!((report.data_rows, report.refused_rows()), (1, 1));

    // Assigned User without Group Tag before it.
    let report = check(
        format!("Device Serial Number,Windows Product ID,Hardware Hash,Assigned User\nPF1,,{h},\n")
            .as_bytes(),
    );
    assert_eq!(found(&report), [(1, Some(CsvColumn::GroupTag), ProblemKind::MissingColumn)]);

    // Out of order, and a column twice (the first is read).
    let report = check(
        format!("Hardware Hash,Device Serial Number,Windows Product ID,Group Tag,Group Tag\n{h},PF1,,Sales,Other\n")
            .as_bytes(),
    );
    assert_eq!(
        found(&report),
        [(1, None, ProblemKind::ColumnOrder), (1, Some(CsvColumn::GroupTag), ProblemKind::DuplicateColumn)]
    );
    assert!(
        report.problems[0]
            .message
            .contains("order Hardware Hash,Device Serial Number,Windows Product ID,Group Tag;")
    );
    assert_eq!(
        report.problems[1].message,
        "'Group Tag' is both column 4 and column 5: keep one (column 4 is read)."
    );
    assert_eq!(report.rows[0].serial_number, "PF1");
    assert_eq!(report.rows[0].group_tag.as_deref(), Some("Sales"));
}

#[test]
fn a_utf8_bom_is_a_problem_of_the_file_and_dropped() {
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(file(&[row("PF1", &hash(1), "", "")]));
    let report = check(&bytes);
    assert_eq!(report.encoding, Encoding::Utf8Bom);
    assert_eq!(found(&report), [(1, None, ProblemKind::Bom)]);
    assert_eq!(lines(&report), [2]);
}

#[test]
fn utf16_files_are_decoded_checked_and_named() {
    let text =
        format!("{FULL}\r\n{}\r\n{}\r\n", row("PF1", &hash(1), "", ""), row("PF2", &hash(2), "Zürich", ""));
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    for (bytes, encoding) in [
        ([&[0xff, 0xfe][..], &le].concat(), Encoding::Utf16Le),
        ([&[0xfe, 0xff][..], &be].concat(), Encoding::Utf16Be),
        (le.clone(), Encoding::Utf16Le),
        (be.clone(), Encoding::Utf16Be),
    ] {
        let report = check(&bytes);
        assert_eq!(report.encoding, encoding);
        assert_eq!(
            found(&report),
            [(1, None, ProblemKind::Utf16), (3, Some(CsvColumn::GroupTag), ProblemKind::NonAnsi)],
            "{encoding:?}"
        );
        assert!(report.problems[0].message.contains("Out-File -Encoding ascii"));
        // The character is named; there are no UTF-8 bytes to speak of in a UTF-16 file.
        assert!(
            report.problems[1].message.contains("'ü' (U+00FC) at position 2 is not ASCII"),
            "{}",
            report.problems[1]
        );
        assert_eq!(lines(&report), [2]);
    }
}

#[test]
fn non_ansi_bytes_are_named_as_utf8_or_windows_1252() {
    let h = hash(1);
    let report = check(&file(&[row("PF1", &h, "Zürich–Nord", "")]));
    let problem = only(&report);
    assert_eq!(
        (problem.line, problem.column, problem.kind),
        (2, Some(CsvColumn::GroupTag), ProblemKind::NonAnsi)
    );
    assert_eq!(
        problem.message,
        "'Zürich–Nord': 'ü' (U+00FC, written as UTF-8 (C3 BC)) at position 2 (and 1 more) is not ASCII. The portal \
         takes ANSI files, and only ASCII reads the same in every ANSI code page: write the value in ASCII."
    );
    let mut bytes = format!("{FULL}\nPF2,,{h},M").into_bytes();
    bytes.extend(b"\xfcnchen,\n");
    let problem = only(&check(&bytes)).clone();
    assert_eq!(problem.kind, ProblemKind::NonAnsi);
    assert!(
        problem.message.starts_with("'München': byte FC at position 2 ('ü' in Windows-1252) is not ASCII."),
        "{}",
        problem.message
    );
    // An invisible character is shown, not hidden.
    let problem = only(&check(&file(&[row("PF3\u{200b}", &h, "", "")]))).clone();
    assert_eq!((problem.column, problem.kind), (Some(CsvColumn::SerialNumber), ProblemKind::NonAnsi));
    assert!(problem.message.starts_with("'PF3⟨U+200B⟩': '⟨U+200B⟩' (U+200B"), "{}", problem.message);
}

#[test]
fn control_characters_are_named_with_their_position() {
    let h = hash(1);
    let cases = [
        ("PF\t1", "a tab at position 3"),
        ("PF\u{0}1", "a NUL byte at position 3"),
        ("PF\r1", "a carriage return"),
    ];
    for (serial, words) in cases {
        let report = check(&file(&[row(serial, &h, "", "")]));
        let problem = only(&report);
        assert_eq!((problem.line, problem.kind), (2, ProblemKind::ControlCharacter), "{serial:?}");
        assert!(problem.message.contains(words), "{}", problem.message);
        assert!(!problem.message.contains(['\t', '\0', '\r']), "escaped: {:?}", problem.message);
        assert!(report.rows.is_empty());
    }
    let problem = only(&check(&file(&[row("PF1", &h, "a\u{1b}]52;c;x\u{7}", "")]))).clone();
    assert!(
        problem
            .message
            .starts_with("'a⟨U+001B⟩]52;c;x⟨U+0007⟩' holds the control character ⟨U+001B⟩ at position 2")
    );
}

#[test]
fn blank_lines_are_named_and_a_final_line_break_is_not_one() {
    let (a, b) = (hash(1), hash(2));
    let text = format!(
        "{FULL}\r\n{}\r\n\r\n,,,,\r\n  \r\n{}\r\n\r\n",
        row("PF1", &a, "", ""),
        row("PF2", &b, "", "")
    );
    let report = check(text.as_bytes());
    assert_eq!(
        found(&report),
        [
            (3, None, ProblemKind::BlankLine),
            (4, None, ProblemKind::BlankLine),
            (5, None, ProblemKind::BlankLine),
            (7, None, ProblemKind::BlankLine)
        ]
    );
    assert_eq!(lines(&report), [2, 6]);
    assert_eq!(report.data_rows, 2);
    assert!(check(&file(&[row("PF1", &a, "", "")])).is_clean());
}

#[test]
fn quotes_are_one_problem_even_around_a_comma() {
    let h = hash(1);
    let report = check(&file(&[format!("\"PF1\",\"\",{h},\"Sales, EMEA\","), row("PF2", &hash(2), "", "")]));
    let problem = only(&report);
    assert_eq!(
        (problem.line, problem.column, problem.kind),
        (2, Some(CsvColumn::SerialNumber), ProblemKind::Quotes)
    );
    assert_eq!(lines(&report), [3]);
    // A quoted value is still checked: its other problems show in the same pass.
    let report = check(&file(&[format!("PF1,,{h},\"Sales\",\"bob\"")]));
    assert_eq!(
        found(&report),
        [
            (2, Some(CsvColumn::GroupTag), ProblemKind::Quotes),
            (2, Some(CsvColumn::AssignedUser), ProblemKind::NotUpn)
        ]
    );
    // A quote inside a value, and quotes in the header.
    let report =
        check(format!("\"Device Serial Number\",Windows Product ID,Hardware Hash\nPF\"1,,{h}\n").as_bytes());
    assert_eq!(
        found(&report),
        [(1, None, ProblemKind::Quotes), (2, Some(CsvColumn::SerialNumber), ProblemKind::Quotes)]
    );
    assert!(report.rows.is_empty());
}

#[test]
fn extra_or_missing_values_are_counted() {
    let h = hash(1);
    let report = check(&file(&[format!("PF1,,{h},Sales, EMEA,"), format!("PF2,,{h}")]));
    assert_eq!(found(&report), [(2, None, ProblemKind::ColumnCount), (3, None, ProblemKind::ColumnCount)]);
    assert!(
        report.problems[0]
            .message
            .starts_with("the line has 6 values but the header has 5 columns: a value holds a comma")
    );
    assert!(
        report.problems[1]
            .message
            .starts_with("the line has 3 values but the header has 5 columns: add the missing commas")
    );
    assert!(report.rows.is_empty());
}

#[test]
fn empty_serials_and_hashes_and_surrounding_spaces() {
    let h = hash(1);
    let report = check(&file(&[
        row("", &h, "", ""),
        row("PF2", "", "", ""),
        row(" PF3", &hash(3), "", ""),
        row("PF4", &hash(4), "Sales ", ""),
        row("PF5", &hash(5), "   ", ""),
    ]));
    assert_eq!(
        found(&report),
        [
            (2, Some(CsvColumn::SerialNumber), ProblemKind::EmptySerial),
            (3, Some(CsvColumn::HardwareHash), ProblemKind::EmptyHash),
            (4, Some(CsvColumn::SerialNumber), ProblemKind::SurroundingSpace),
            (5, Some(CsvColumn::GroupTag), ProblemKind::SurroundingSpace),
            (6, Some(CsvColumn::GroupTag), ProblemKind::SurroundingSpace),
        ]
    );
    assert_eq!(
        report.problems[2].message,
        "' PF3' has a space at the start, which would become part of it: remove it."
    );
    assert!(report.rows.is_empty());
}

#[test]
fn group_tags_over_512_characters_and_users_that_are_not_upns() {
    let report = check(&file(&[
        row("PF1", &hash(1), &"t".repeat(512), "ana@contoso.com"),
        row("PF2", &hash(2), &"t".repeat(513), ""),
        row("PF3", &hash(3), "", "ana.contoso.com"),
        row("PF4", &hash(4), "", "ana@contoso"),
    ]));
    assert_eq!(
        found(&report),
        [
            (3, Some(CsvColumn::GroupTag), ProblemKind::TooLong),
            (4, Some(CsvColumn::AssignedUser), ProblemKind::NotUpn),
            (5, Some(CsvColumn::AssignedUser), ProblemKind::NotUpn),
        ]
    );
    assert_eq!(
        report.problems[0].message,
        "'tttttttttttttttt…tttttttt' (513 characters) is longer than Group Tag takes (512 characters at most): shorten it."
    );
    assert_eq!(
        report.problems[1].message,
        "'ana.contoso.com' is not a user principal name (name@domain.tld): give the user's sign-in name, or leave it empty."
    );
    assert_eq!(lines(&report), [2]);
}

#[test]
fn hashes_that_do_not_decode_say_what_they_look_like() {
    let real = hash(1);
    let url_safe = {
        let with_symbols = (2..).map(hash).find(|h| h.contains('+') && h.contains('/')).unwrap();
        with_symbols.replace('+', "-").replace('/', "_")
    };
    let mut wrong_char = real.clone();
    wrong_char.replace_range(100..101, "*");
    let double = encode_binary(real.as_bytes());
    let cases = [
        (
            wrong_char.as_str(),
            ProblemKind::HashNotBase64,
            "is not base64: '*' at position 101 is not a base64 character",
        ),
        (
            &format!("{} {}", &real[..8], &real[8..]),
            ProblemKind::HashNotBase64,
            "' ' at position 9 is not a base64 character",
        ),
        (&format!("{real} "), ProblemKind::SurroundingSpace, "has a space at the end"),
        (&url_safe, ProblemKind::HashBase64Url, "is base64url (it has '-' or '_')"),
        (
            &real[..real.len() - 3],
            ProblemKind::HashCut,
            "5333 characters is not a multiple of 4, so the hash was cut short",
        ),
        (real.trim_end_matches('='), ProblemKind::HashCut, "lost its '=' padding"),
        ("AB==", ProblemKind::HashCut, "its last characters cannot end base64"),
        (
            &double,
            ProblemKind::HashDoubleEncoded,
            "is base64 of base64 text (encoded twice): decoded once it reads 'T0EGB",
        ),
        (
            &hash_of(2, 100),
            ProblemKind::HashSize,
            "decodes to 100 bytes; a hardware hash is about 4,000 bytes (this check takes 1024 to 12288)",
        ),
        (&hash_of(3, MAX_HASH_BYTES + 1), ProblemKind::HashSize, "decodes to 12289 bytes"),
    ];
    for (value, kind, words) in cases {
        let report = check(&file(&[row("PF1", value, "", "")]));
        let problem = only(&report);
        assert_eq!(
            (problem.line, problem.column, problem.kind),
            (2, Some(CsvColumn::HardwareHash), kind),
            "{words}"
        );
        assert!(problem.message.contains(words), "{words}: {}", problem.message);
        assert!(report.rows.is_empty());
    }
    // A hash of 4000 bytes: 5336 characters, and the message cuts it.
    assert_eq!(real.len(), 5336);
    let problem = only(&check(&file(&[row("PF1", &real[..real.len() - 3], "", "")]))).clone();
    assert!(
        problem.message.starts_with(&format!("'{}…{}' (5333 characters): ", &real[..16], &real[5325..5333])),
        "{}",
        problem.message
    );
    // The bounds themselves pass.
    for len in [MIN_HASH_BYTES, MAX_HASH_BYTES] {
        assert!(check(&file(&[row("PF1", &hash_of(4, len), "", "")])).is_clean(), "{len}");
    }
}

#[test]
fn the_hash_bounds_and_columns_agree_with_the_imported_descriptor() {
    let field = IMPORTED.field("hardwareIdentifier").unwrap();
    assert_eq!(MAX_HASH_BYTES, field.max_len.unwrap() / 4 * 3);
    for column in CsvColumn::ALL {
        assert!(IMPORTED.field(column.property()).is_some(), "{column}");
    }
    assert_eq!(CsvColumn::ALL.map(CsvColumn::header).join(","), HEADER);
    assert_eq!(IMPORTED.field("groupTag").unwrap().max_len, Some(512));
}

#[test]
fn a_repeated_line_is_sent_once() {
    let a = row("PF1", &hash(1), "Sales", "");
    let report = check(&file(&[a.clone(), row("PF2", &hash(2), "", ""), a]));
    let problem = only(&report);
    assert_eq!(
        (problem.line, problem.column, problem.kind, problem.other_line),
        (4, None, ProblemKind::DuplicateRow, Some(2))
    );
    assert_eq!(
        problem.message,
        "the line repeats line 2 (serial 'PF1'): only line 2 is sent; remove this one."
    );
    assert_eq!(lines(&report), [2, 3]);
}

#[test]
fn the_same_serial_or_hash_on_two_lines_names_both_and_sends_neither() {
    let shared = hash(9);
    let report = check(&file(&[
        row("PF1", &hash(1), "Sales", ""),
        row("PF2", &shared, "", ""),
        row("pf1", &hash(3), "Sales", ""),
        row("PF4", &shared, "", ""),
        row("PF5", &hash(5), "", ""),
    ]));
    assert_eq!(
        report.problems.iter().map(|p| (p.line, p.column, p.kind, p.other_line)).collect::<Vec<_>>(),
        [
            (2, Some(CsvColumn::SerialNumber), ProblemKind::DuplicateSerial, Some(4)),
            (3, Some(CsvColumn::HardwareHash), ProblemKind::DuplicateHash, Some(5)),
            (4, Some(CsvColumn::SerialNumber), ProblemKind::DuplicateSerial, Some(2)),
            (5, Some(CsvColumn::HardwareHash), ProblemKind::DuplicateHash, Some(3)),
        ]
    );
    assert_eq!(
        report.problems[0].message,
        "serial 'PF1' is also on line 4, with another Hardware Hash: keep the right line and remove the other \
         (neither is sent)."
    );
    assert_eq!(
        report.problems[3].to_string(),
        "line 5, Hardware Hash: the hardware hash is also on line 3, under serial 'PF2' there; a hash belongs to \
         one device: keep the right line and remove the other (neither is sent)."
    );
    assert_eq!(lines(&report), [6]);
}

#[test]
fn empty_files_and_files_without_rows() {
    for bytes in [&b""[..], b"\n", b"\r\n\r\n", b"\xef\xbb\xbf"] {
        let report = check(bytes);
        assert!(found(&report).contains(&(1, None, ProblemKind::Empty)), "{bytes:?}: {:#?}", report.problems);
        assert!(report.rows.is_empty());
    }
    let report = check(format!("\n{FULL}\nPF1,,{},,\n", hash(1)).as_bytes());
    assert_eq!(found(&report), [(1, None, ProblemKind::BlankLine)]);
    assert!(report.problems[0].message.starts_with("the first line is blank: the header"));
    let report = check(format!("{FULL}\n").as_bytes());
    assert_eq!(found(&report), [(1, None, ProblemKind::NoRows)]);
}

#[test]
fn problems_come_in_line_order_and_display_their_place() {
    let report = check(&file(&[row("", "", "", "bob"), row("PF2", "x", "", "")]));
    assert_eq!(
        found(&report),
        [
            (2, Some(CsvColumn::SerialNumber), ProblemKind::EmptySerial),
            (2, Some(CsvColumn::HardwareHash), ProblemKind::EmptyHash),
            (2, Some(CsvColumn::AssignedUser), ProblemKind::NotUpn),
            (3, Some(CsvColumn::HardwareHash), ProblemKind::HashCut),
        ]
    );
    assert_eq!(
        report.problems[0].to_string(),
        "line 2, Device Serial Number: the serial number is empty: every device needs its serial."
    );
    assert_eq!(report.problems[0].column_name(), Some("Device Serial Number"));
}

/// `(line, column, kind, other line)` of every problem.
fn placed(report: &Report) -> Vec<(usize, Option<CsvColumn>, ProblemKind, Option<usize>)> {
    report.problems.iter().map(|p| (p.line, p.column, p.kind, p.other_line)).collect()
}

const EVERY_PROBLEM: &[u8] = include_bytes!("../../../tests/fixtures/hashes-every-problem.csv");
const MIXED: &[u8] = include_bytes!("../../../tests/fixtures/hashes-mixed.csv");
const UTF16: &[u8] = include_bytes!("../../../tests/fixtures/hashes-utf16.csv");

/// The fixture with every kind of problem that can share one file (`tests/fixtures/README.md`).
#[test]
fn the_every_problem_fixture() {
    use CsvColumn::{
        AssignedUser as User, GroupTag as Tag, HardwareHash as Hash, ProductId, SerialNumber as Serial,
    };
    use ProblemKind as K;
    let report = check(EVERY_PROBLEM);
    assert_eq!(
        placed(&report),
        [
            (1, None, K::Bom, None),
            (1, None, K::UnknownColumn, None),
            (1, None, K::ColumnOrder, None),
            (1, Some(ProductId), K::MissingColumn, None),
            (1, Some(Hash), K::HeaderCase, None),
            (1, Some(Tag), K::DuplicateColumn, None),
            (3, None, K::BlankLine, None),
            (4, Some(Serial), K::Quotes, None),
            (5, None, K::ColumnCount, None),
            (6, Some(Tag), K::NonAnsi, None),
            (7, Some(Tag), K::NonAnsi, None),
            (8, Some(Serial), K::ControlCharacter, None),
            (9, Some(Serial), K::EmptySerial, None),
            (10, Some(Hash), K::EmptyHash, None),
            (11, Some(Serial), K::SurroundingSpace, None),
            (12, Some(Tag), K::TooLong, None),
            (13, Some(User), K::NotUpn, None),
            (14, Some(Hash), K::HashNotBase64, None),
            (15, Some(Hash), K::HashBase64Url, None),
            (16, Some(Hash), K::HashCut, None),
            (17, Some(Hash), K::HashDoubleEncoded, None),
            (18, Some(Hash), K::HashSize, None),
            (19, Some(Serial), K::DuplicateSerial, Some(20)),
            (20, Some(Serial), K::DuplicateSerial, Some(19)),
            (21, Some(Hash), K::DuplicateHash, Some(22)),
            (22, Some(Hash), K::DuplicateHash, Some(21)),
            (23, None, K::DuplicateRow, Some(2)),
            (25, None, K::BlankLine, None),
        ]
    );
    assert_eq!(report.encoding, Encoding::Utf8Bom);
    assert_eq!(lines(&report), [2, 24]);
    assert_eq!((report.data_rows, report.refused_rows()), (22, 20));
    assert_eq!(report.rows[0].serial_number, "CSV-OK-0001");
    assert_eq!(report.rows[0].group_tag.as_deref(), Some("Sales"));
    assert_eq!(report.rows[0].assigned_user_principal_name.as_deref(), Some("ana@contoso.com"));
    assert_eq!(report.rows[0].product_key, None);
    assert!(report.problems.iter().all(|p| !p.message.contains(['\t', '\r', '\u{0}'])));
}

#[test]
fn the_mixed_and_utf16_fixtures() {
    use ProblemKind as K;
    let report = check(MIXED);
    assert_eq!(
        placed(&report),
        [
            (3, Some(CsvColumn::SerialNumber), K::DuplicateSerial, Some(8)),
            (8, Some(CsvColumn::SerialNumber), K::DuplicateSerial, Some(3)),
            (9, Some(CsvColumn::HardwareHash), K::HashCut, None),
            (10, Some(CsvColumn::AssignedUser), K::NotUpn, None),
            (11, None, K::BlankLine, None),
        ]
    );
    assert_eq!(lines(&report), [2, 4, 5, 6, 7, 12]);
    assert_eq!(report.rows[2].product_key.as_deref(), Some("00330-80000-00000-AA123"));
    let report = check(UTF16);
    assert_eq!(report.encoding, Encoding::Utf16Le);
    assert_eq!(
        placed(&report),
        [(1, None, K::Utf16, None), (4, Some(CsvColumn::GroupTag), K::NonAnsi, None)]
    );
    assert_eq!(lines(&report), [2, 3]);
}

/// Every kind of problem shows up in the fixtures (or, for the two that need a file of their
/// own, in an empty one and a header alone).
#[test]
fn the_fixtures_cover_every_kind_of_problem() {
    /// Exhaustive, so a new kind does not compile until it is counted here.
    fn slot(kind: ProblemKind) -> usize {
        use ProblemKind as K;
        match kind {
            K::Empty => 0,
            K::Utf16 => 1,
            K::Bom => 2,
            K::HeaderCase => 3,
            K::UnknownColumn => 4,
            K::MissingColumn => 5,
            K::DuplicateColumn => 6,
            K::ColumnOrder => 7,
            K::NoRows => 8,
            K::BlankLine => 9,
            K::Quotes => 10,
            K::ColumnCount => 11,
            K::NonAnsi => 12,
            K::ControlCharacter => 13,
            K::EmptySerial => 14,
            K::EmptyHash => 15,
            K::SurroundingSpace => 16,
            K::TooLong => 17,
            K::NotUpn => 18,
            K::HashNotBase64 => 19,
            K::HashBase64Url => 20,
            K::HashCut => 21,
            K::HashDoubleEncoded => 22,
            K::HashSize => 23,
            K::DuplicateSerial => 24,
            K::DuplicateHash => 25,
            K::DuplicateRow => 26,
        }
    }
    let mut seen = [false; 27];
    let header_only = format!("{FULL}\n");
    for bytes in [EVERY_PROBLEM, UTF16, b"", header_only.as_bytes()] {
        for problem in check(bytes).problems {
            seen[slot(problem.kind)] = true;
        }
    }
    assert!(seen.iter().all(|s| *s), "{seen:?}");
}
