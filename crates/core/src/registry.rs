//! [`method_registry!`]: the one shape of every modality's list of methods. A modality declares
//! its method trait (with `type Config: MethodSettings`) and lists its methods once; the macro
//! generates the method modules, the kind enum (names as `--method` and `config.toml` spell
//! them, help lines, `visit` to reach a method's type) and the method's settings as a table.

/// Declares a modality's methods: the kind enum, the trait they implement, then one line per
/// method (variant, name, module and type, one-line help).
///
/// Generates `pub mod <module>;` for each method, a `MethodVisitor` trait (something to do with a
/// method's type), and the enum with `ALL`, `name`, `help`, `from_name`, `visit`,
/// `default_settings`, `recipe_settings`, `check_settings` and `Display`. The invoking crate
/// depends on `serde`, `toml` and `anyhow`.
#[macro_export]
macro_rules! method_registry {
    (
        $(#[doc = $doc:literal])*
        pub enum $Kind:ident: $Trait:ident;
        $($variant:ident = $name:literal => $module:ident::$ty:ident, $help:literal;)*
    ) => {
        $(pub mod $module;)*

        /// Something to do with a method's type, given its kind (`visit`).
        pub trait MethodVisitor {
            type Output;
            fn visit<M: $Trait>(self) -> Self::Output;
        }

        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $Kind {
            $(#[doc = $help] #[serde(rename = $name)] $variant,)*
        }

        impl $Kind {
            /// Every method, in registration order.
            pub const ALL: &[$Kind] = &[$($Kind::$variant),*];

            /// The name `--method` and config files use.
            pub fn name(self) -> &'static str {
                match self { $($Kind::$variant => $name,)* }
            }

            /// What the method learns, in a line.
            pub fn help(self) -> &'static str {
                match self { $($Kind::$variant => $help,)* }
            }

            /// The method called `name`, if it is one of these.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some($Kind::$variant),)* _ => None }
            }

            /// Calls `visitor` with the method's type.
            pub fn visit<V: MethodVisitor>(self, visitor: V) -> V::Output {
                match self { $($Kind::$variant => visitor.visit::<$module::$ty>(),)* }
            }

            /// The method's default settings as a table (`config.toml`'s `[method_config]`).
            pub fn default_settings(self) -> toml::Table {
                match self {
                    $($Kind::$variant => $crate::method::default_settings::<<$module::$ty as $Trait>::Config>(),)*
                }
            }

            /// The method's defaults with `recipe`'s `[method_config]` laid over them.
            pub fn recipe_settings(
                self,
                recipe: &$crate::recipe::Recipe,
            ) -> anyhow::Result<toml::Table> {
                match self {
                    $($Kind::$variant => $crate::method::recipe_settings::<<$module::$ty as $Trait>::Config>(recipe),)*
                }
            }

            /// Reads `table` as the method's settings and checks them.
            pub fn check_settings(
                self,
                table: &toml::Table,
                s: &$crate::train::limits::Settings,
            ) -> anyhow::Result<()> {
                match self {
                    $($Kind::$variant => $crate::method::read_settings::<<$module::$ty as $Trait>::Config>(table, s).map(|_| ()),)*
                }
            }
        }

        impl std::fmt::Display for $Kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
