namespace PmemFs.Cli.Flags;

/// <summary>
/// chattr's command line, parsed by hand: "-i" is a flag to clear, not an option, so it cannot
/// go through System.CommandLine. As in chattr(1), arguments up to the first one that does not
/// start with '+', '-' or '=' are options and modes, the rest are files; a '-' argument that is
/// not a list of long names is read letter by letter, R, V and f being the options (so "-Ri"
/// recurses and clears immutable). "--" ends the modes.
/// </summary>
public sealed record ChattrArguments(FlagExpression Change, bool Recursive, bool Verbose, bool Silent, IReadOnlyList<string> Files)
{
    /// <exception cref="FlagUsageException">the command line is wrong.</exception>
    public static ChattrArguments Parse(IReadOnlyList<string> args)
    {
        bool recursive = false, verbose = false, silent = false;
        var modes = new List<string>();
        int i = 0;
        for (; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--") { i++; break; }
            if (a.Length == 0 || a[0] is not ('+' or '-' or '=')) break;
            if (a.StartsWith("--", StringComparison.Ordinal)) throw new FlagUsageException($"unknown option '{a}'");
            if (a[0] == '-' && a.Length > 1 && !IsNameList(a[1..]))
            {
                // Options and flag letters share one cluster, as in chattr(1).
                var letters = new System.Text.StringBuilder("-");
                foreach (char c in a.AsSpan(1))
                {
                    switch (c)
                    {
                        case 'R': recursive = true; break;
                        case 'V': verbose = true; break;
                        case 'f': silent = true; break;
                        default: letters.Append(c); break;
                    }
                }
                if (letters.Length > 1)
                {
                    string mode = letters.ToString();
                    // Checked here so that an error names the argument as typed ("-Rq", not "-q").
                    FlagExpression.ParseFlags(mode, typed: a);
                    modes.Add(mode);
                }
                continue;
            }
            modes.Add(a);
        }
        var change = FlagExpression.Parse(modes);
        var files = args.Skip(i).ToList();
        if (files.Count == 0) throw new FlagUsageException("missing FILE");
        return new ChattrArguments(change, recursive, verbose, silent, files);
    }

    private static bool IsNameList(string text) => text.Split(',').All(n => FlagNames.ByName(n) is not null);
}
