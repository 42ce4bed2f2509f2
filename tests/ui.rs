//! The generated API as a user meets it: what compiles (`ui/pass`, which also run) and the
//! misuse that must not compile, with the compiler's reviewed messages (`ui/fail/*.stderr`).

#[test]
fn generated_api_compiles_and_misuse_does_not() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
