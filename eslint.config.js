// Lint: ESLint with typescript-eslint's recommended rules. (Biome was the first choice, but its
// per-platform binary packages are not all on the registry mirror, so `npm ci` could not install
// from the lock file; ESLint and Prettier are plain JavaScript.)
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "data/", "deploy/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-console": "error",
      // One rule for paths (src/http/paths.ts): routers match letter case exactly.
      "no-restricted-syntax": [
        "error",
        {
          selector: "NewExpression[callee.name='Router']",
          message: "Use caseSensitiveRouter() from src/http/paths.ts.",
        },
      ],
    },
  },
  { files: ["src/http/paths.ts"], rules: { "no-restricted-syntax": "off" } },
  // The Directory owns people, groups, memberships and handles (docs/decisions/0009): outside
  // src/identity, only the composition root names their entity schemas (the data source's list).
  {
    files: ["src/**/*.ts"],
    ignores: ["src/identity/**", "src/services.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "(^|/)identity/entities(\\.ts)?$",
              message:
                "People and groups belong to the Directory: use src/identity/directory.ts (its reads, commands and types).",
            },
          ],
        },
      ],
    },
  },
);
