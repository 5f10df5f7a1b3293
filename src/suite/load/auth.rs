//! How an actor's key is sent: suite.toml's `[auth]`, an actor's `auth`.

use std::ops::Range;

use super::Loader;
use crate::spec::source::SourceFile;
use crate::spec::template::Template;
use crate::suite::model::AuthScheme;
use crate::suite::raw;

/// The kinds, as the reference and the errors name them.
const KINDS: &str = "\"bearer\", \"header\", \"cookie\" or \"basic\"";

/// Headers the tool writes itself: a key sent in one would be overwritten,
/// or would break the request.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
];

/// Templates with their spans in the file that holds them.
pub(super) type SpannedTemplates = Vec<(Range<usize>, Template)>;

/// An `auth` table as the model has it, with the templates of basic auth (and
/// their spans) for the checks that need to know which actor sends them.
pub(super) struct LoadedAuth {
    pub scheme: AuthScheme,
    pub templates: SpannedTemplates,
}

impl Loader {
    /// An `auth` table of `file`: its `kind` and the keys that kind takes.
    /// `whose` starts each message: `[auth]` or ``actor `A`: auth``.
    pub(super) fn auth(
        &mut self,
        file: &SourceFile,
        raw: &raw::Auth,
        whose: &str,
    ) -> Option<LoadedAuth> {
        let kind = raw.kind.get_ref().as_str();
        if !matches!(kind, "bearer" | "header" | "cookie" | "basic") {
            self.problem(
                file.at(raw.kind.span()),
                format!("{whose} kind = {kind:?} is not {KINDS}"),
                Some("\"bearer\" sends `Authorization: Bearer <key>`; \"header\" a header of its own (name = \"x-api-key\"); \"cookie\" a cookie (name = \"session\"); \"basic\" basic auth (user = \"{{actor.name}}\")".into()),
            );
            return None;
        }
        // Each key another kind takes is a conflict here, named with its line.
        let mut ok = true;
        let keys: [(&str, &Option<raw::Str>, &[&str]); 4] = [
            ("name", &raw.name, &["header", "cookie"]),
            ("prefix", &raw.prefix, &["header"]),
            ("user", &raw.user, &["basic"]),
            ("password", &raw.password, &["basic"]),
        ];
        for (key, value, kinds) in keys {
            if let Some(value) = value
                && !kinds.contains(&kind)
            {
                let takers: Vec<String> = kinds.iter().map(|k| format!("kind = {k:?}")).collect();
                self.problem(
                    file.at(value.span()),
                    format!("{whose} kind = {kind:?} takes no `{key}`"),
                    Some(format!(
                        "`{key}` is for {}; drop it, or change `kind`",
                        takers.join(" and ")
                    )),
                );
                ok = false;
            }
        }
        let required = |key: &str, example: &str| {
            (
                format!("{whose} kind = {kind:?} needs `{key}`"),
                Some(format!("add {key} = {example}")),
            )
        };
        let scheme = match kind {
            "bearer" => AuthScheme::Bearer,
            "header" | "cookie" => {
                let Some(name) = &raw.name else {
                    let example = if kind == "header" {
                        "\"x-api-key\" (the header's name)"
                    } else {
                        "\"session\" (the cookie's name)"
                    };
                    let (message, hint) = required("name", example);
                    self.problem(file.at(raw.kind.span()), message, hint);
                    return None;
                };
                let text = name.get_ref();
                if text.is_empty() || !text.bytes().all(token_byte) {
                    self.problem(
                        file.at(name.span()),
                        format!("{whose} name = {text:?} is not a {kind} name"),
                        Some(format!("a {kind} name is letters, digits and `-`, `_`, `.` (no spaces, `=`, `:` or `;`), e.g. {}", if kind == "header" { "x-api-key" } else { "session" })),
                    );
                    return None;
                }
                if kind == "header"
                    && RESERVED_HEADERS.contains(&text.to_ascii_lowercase().as_str())
                {
                    self.problem(
                        file.at(name.span()),
                        format!("{whose} name = {text:?}: the tool writes that header itself"),
                        Some(
                            "send the key in a header of its own, e.g. name = \"x-api-key\"".into(),
                        ),
                    );
                    return None;
                }
                if kind == "header" {
                    let prefix = raw
                        .prefix
                        .as_ref()
                        .map(|p| p.get_ref().clone())
                        .unwrap_or_default();
                    if let Some(span) = raw.prefix.as_ref().map(|p| p.span())
                        && !prefix
                            .bytes()
                            .all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
                    {
                        self.problem(
                            file.at(span),
                            format!("{whose} prefix = {prefix:?} holds a character a header cannot carry"),
                            Some("a prefix is printable ASCII, e.g. prefix = \"Token \"".into()),
                        );
                        return None;
                    }
                    AuthScheme::Header {
                        name: text.clone(),
                        prefix,
                    }
                } else {
                    AuthScheme::Cookie { name: text.clone() }
                }
            }
            _ => {
                let Some(user) = &raw.user else {
                    let (message, hint) = required(
                        "user",
                        "\"{{actor.name}}\" (basic auth's user name; the password is the actor's key)",
                    );
                    self.problem(file.at(raw.kind.span()), message, hint);
                    return None;
                };
                let mut templates = Vec::new();
                let user_template = self.template(file, user.get_ref(), user.span())?;
                if user_template.source().contains(':') && user_template.vars().next().is_none() {
                    self.problem(
                        file.at(user.span()),
                        format!(
                            "{whose} user = {:?} holds a `:`, which ends a basic auth user name",
                            user.get_ref()
                        ),
                        Some(
                            "basic auth sends `user:password`: a user name cannot hold a colon"
                                .into(),
                        ),
                    );
                    return None;
                }
                templates.push((user.span(), user_template.clone()));
                let password = match &raw.password {
                    Some(password) => {
                        let template = self.template(file, password.get_ref(), password.span())?;
                        templates.push((password.span(), template.clone()));
                        Some(template)
                    }
                    None => None,
                };
                if !ok {
                    return None;
                }
                return Some(LoadedAuth {
                    scheme: AuthScheme::Basic {
                        user: user_template,
                        password,
                    },
                    templates,
                });
            }
        };
        ok.then_some(LoadedAuth {
            scheme,
            templates: Vec::new(),
        })
    }
}

/// A byte of an HTTP token (RFC 9110): what a header or cookie name is made of.
fn token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    const SCENARIO: &str =
        "[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\nadmin = [200]\nalice = [200]\n";
    const WORLD: &str =
        "[actors.admin]\nkey = \"master\"\n[actors.alice]\nid = \"{{prefix}}alice\"\n";

    fn load(suite: &str, world: &str) -> Vec<String> {
        problems(&[
            ("suite.toml", suite),
            ("world.toml", world),
            ("scenarios/s.toml", SCENARIO),
        ])
    }

    fn loaded(suite: &str, world: &str) -> crate::suite::Suite {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
        std::fs::write(dir.path().join("suite.toml"), suite).unwrap();
        std::fs::write(dir.path().join("world.toml"), world).unwrap();
        std::fs::write(dir.path().join("scenarios/s.toml"), SCENARIO).unwrap();
        crate::suite::load(dir.path()).unwrap()
    }

    #[test]
    fn the_suite_says_how_keys_are_sent_and_an_actor_may_say_otherwise() {
        use crate::suite::AuthScheme;
        let suite = loaded(
            "name = \"t\"\n[auth]\nkind = \"header\"\nname = \"x-api-key\"\n",
            &WORLD.replace(
                "id = \"{{prefix}}alice\"\n",
                "id = \"{{prefix}}alice\"\nauth = { kind = \"basic\", user = \"{{actor.id}}\" }\n",
            ),
        );
        assert!(matches!(
            &suite.world.actors["admin"].auth,
            AuthScheme::Header { name, prefix } if name == "x-api-key" && prefix.is_empty()
        ));
        assert!(matches!(
            &suite.world.actors["alice"].auth,
            AuthScheme::Basic { user, password: None } if user.source() == "{{actor.id}}"
        ));
        assert!(matches!(&suite.auth, AuthScheme::Header { .. }));
        // Without [auth], a bearer.
        let plain = loaded(SUITE, WORLD);
        assert!(matches!(
            plain.world.actors["alice"].auth,
            AuthScheme::Bearer
        ));
    }

    #[test]
    fn an_unknown_kind_a_missing_key_and_a_key_of_another_kind_name_their_line() {
        let got = load("name = \"t\"\n[auth]\nkind = \"token\"\n", WORLD);
        assert_eq!(
            got,
            [
                "/suite.toml:3: [auth] kind = \"token\" is not \"bearer\", \"header\", \"cookie\" or \"basic\""
            ]
        );
        let got = load(
            "name = \"t\"\n[auth]\nkind = \"header\"\nprefix = \"Token \"\n",
            WORLD,
        );
        assert_eq!(
            got,
            ["/suite.toml:3: [auth] kind = \"header\" needs `name`"]
        );
        let got = load(
            SUITE,
            &WORLD.replace(
                "key = \"master\"\n",
                "key = \"master\"\nauth = { kind = \"cookie\", name = \"s\", prefix = \"x\" }\n",
            ),
        );
        assert_eq!(
            got,
            ["/world.toml:3: actor `admin`: auth kind = \"cookie\" takes no `prefix`"]
        );
        let got = load(
            SUITE,
            &WORLD.replace(
                "key = \"master\"\n",
                "key = \"master\"\nauth = { kind = \"basic\" }\n",
            ),
        );
        assert_eq!(
            got,
            ["/world.toml:3: actor `admin`: auth kind = \"basic\" needs `user`"]
        );
        let got = load(
            "name = \"t\"\n[auth]\nkind = \"bearer\"\nuser = \"u\"\n",
            WORLD,
        );
        assert_eq!(
            got,
            ["/suite.toml:4: [auth] kind = \"bearer\" takes no `user`"]
        );
        let got = load(
            "name = \"t\"\n[auth]\nkind = \"header\"\nname = \"x api key\"\n",
            WORLD,
        );
        assert_eq!(
            got,
            ["/suite.toml:4: [auth] name = \"x api key\" is not a header name"]
        );
        let got = load(
            "name = \"t\"\n[auth]\nkind = \"header\"\nname = \"Content-Type\"\n",
            WORLD,
        );
        assert_eq!(
            got,
            ["/suite.toml:4: [auth] name = \"Content-Type\": the tool writes that header itself"]
        );
        let got = load(
            "name = \"t\"\n[auth]\nnaem = \"x\"\nkind = \"bearer\"\n",
            WORLD,
        );
        assert!(
            got[0].starts_with("/suite.toml:3: unknown field `naem`"),
            "{got:?}"
        );
    }

    #[test]
    fn basic_auth_names_the_actor_it_is_for() {
        // The suite's `user` uses `{{actor.id}}`: the admin has none.
        let got = load(
            "name = \"t\"\n[auth]\nkind = \"basic\"\nuser = \"{{actor.id}}\"\n",
            WORLD,
        );
        assert_eq!(
            got,
            [
                "/suite.toml:4: `{{actor.id}}` is used, but actor `admin`, which sends this basic auth, has no id"
            ]
        );
        let got = load(
            "name = \"t\"\n[auth]\nkind = \"basic\"\nuser = \"{{actor.name}}\"\npassword = \"{{world.nope}}\"\n",
            WORLD,
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got.iter()
                .all(|p| p == "/suite.toml:5: `{{world.nope}}` is not defined"),
            "{got:?}"
        );
        // An anonymous actor sends nothing, so it has no `auth`.
        let got = load(
            SUITE,
            &format!("{WORLD}[actors.nobody]\nanonymous = true\nauth = {{ kind = \"bearer\" }}\n"),
        );
        assert_eq!(
            got,
            ["/world.toml:7: actor `nobody` is anonymous but has `auth`"]
        );
        // A login actor's whoami is sent with these credentials: it cannot
        // need what it learns.
        let world = "[actors.admin]\nkey = \"master\"\n[actors.alice]\nlogin = { method = \"POST\", path = \"/login\", token = \"/t\" }\nwhoami = { path = \"/me\", capture = { id = \"/id\" } }\nauth = { kind = \"basic\", user = \"{{actor.id}}\" }\n";
        let got = load(SUITE, world);
        assert_eq!(
            got,
            [
                "/world.toml:6: `{{actor.id}}` is learnt by the `whoami` of `alice`, which is sent with this basic auth"
            ]
        );
        // A world value captured by a later step is not known when the actor first acts.
        let world = format!(
            "{WORLD}auth = {{ kind = \"basic\", user = \"{{{{world.uid}}}}\" }}\n[[api]]\nas = \"alice\"\nmethod = \"GET\"\npath = \"/a\"\n[[api]]\nas = \"admin\"\nmethod = \"GET\"\npath = \"/b\"\ncapture = {{ uid = \"/id\" }}\n"
        );
        let got = load(SUITE, &world);
        assert_eq!(
            got,
            [
                "/world.toml:5: `{{world.uid}}` is not known yet here: it is captured by a later [[api]] step"
            ]
        );
    }
}
