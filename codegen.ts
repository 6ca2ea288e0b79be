import type { CodegenConfig } from '@graphql-codegen/cli';

// Types the GraphQL documents the tests send (`graphql(...)` from test/generated), against the
// committed schema.graphql. Run `npm run codegen` after changing the schema or a test document.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['test/**/*.ts', '!test/generated/**'],
  ignoreNoDocuments: true,
  generates: {
    'test/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { DateTime: 'string', ID: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
        documentMode: 'string',
        importExtension: '.ts',
      },
    },
  },
};

export default config;
