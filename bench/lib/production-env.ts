// Imported first by bench/run.ts, before anything loads graphql: graphql-js decides once, when
// it loads, whether to run its development-only checks. A deployment runs with
// NODE_ENV=production, so the bench does too (this matters for `--server in-process`; server
// child processes get it in their environment).
process.env.NODE_ENV = 'production';
