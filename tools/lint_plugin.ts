/**
 * socketpipe's own lint rule: no function in a file under lib/, at any depth, is longer than
 * 80 lines, so that each step of a run stays readable in one screen (a long function is a
 * concern to split).
 */
const MAX_FUNCTION_LINES = 80;

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (
    let index = text.indexOf("\n");
    index !== -1 && index < offset;
    index = text.indexOf("\n", index + 1)
  ) {
    line++;
  }
  return line;
}

const plugin: Deno.lint.Plugin = {
  name: "socketpipe",
  rules: {
    "max-function-lines": {
      create(context) {
        if (!/[\\/]lib[\\/](?:[^\\/]+[\\/])*[^\\/]+\.ts$/.test(context.filename)) return {};
        const check = (node: Deno.lint.Node & { range: Deno.lint.Range }) => {
          const text = context.sourceCode.text;
          const lines = lineOf(text, node.range[1]) - lineOf(text, node.range[0]) + 1;
          if (lines > MAX_FUNCTION_LINES) {
            context.report({
              node,
              message: `function is ${lines} lines long; at most ${MAX_FUNCTION_LINES}`,
              hint: "split it into named steps, each one call with one failure line",
            });
          }
        };
        return {
          FunctionDeclaration: check,
          FunctionExpression: check,
          ArrowFunctionExpression: check,
        };
      },
    },
  },
};

export default plugin;
