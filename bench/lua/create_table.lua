-- bench: create a table of the benchmark shape. arg: name
require("common").create(arg[1])
