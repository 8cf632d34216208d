namespace PmemFs.Cli.Flags;

/// <summary>A flag expression that the command line alone shows to be wrong (unknown flag, '=' mixed with '+').</summary>
public sealed class FlagUsageException(string message) : Exception(message)
{
    public FlagUsageException() : this("invalid flag expression") { }

    public FlagUsageException(string message, Exception innerException) : this(message + ": " + innerException.Message) { }
}

/// <summary>
/// chattr's mode arguments (<c>+ia</c>, <c>-dax,dax_immutable</c>, <c>=x</c>) combined into one
/// change: the flags to set and the flags to clear, which the daemon applies as one step.
/// </summary>
public readonly record struct FlagExpression(ulong Set, ulong Clear)
{
    /// <summary>
    /// The bits one mode argument names, without its sign. The text is long names when the
    /// whole of it is a comma-separated list of known names (so "dax" is DAX, not d,a,x);
    /// otherwise every character must be a chattr letter. Errors quote <paramref name="typed"/>
    /// when given: the argument as typed, of which <paramref name="mode"/> is a part ("-Rq").
    /// </summary>
    /// <exception cref="FlagUsageException">an unknown flag or an empty list.</exception>
    public static ulong ParseFlags(string mode, string? typed = null)
    {
        string text = mode.Length > 0 ? mode[1..] : "";
        string quoted = typed ?? mode;
        if (text.Length == 0)
        {
            // "=" alone sets no flag, i.e. clears them all (as in chattr(1)); "+" or "-" alone is a slip.
            if (mode == "=") return 0;
            throw new FlagUsageException($"no flags after '{quoted}'");
        }

        ulong bits = 0;
        bool allNames = true;
        foreach (string name in text.Split(','))
        {
            if (FlagNames.ByName(name) is { } bit) bits |= bit;
            else { allNames = false; break; }
        }
        if (allNames) return bits;

        if (text.Contains(',', StringComparison.Ordinal))
        {
            string unknown = text.Split(',').First(n => FlagNames.ByName(n) is null);
            throw new FlagUsageException(unknown.Length == 0
                ? $"empty flag name in '{quoted}'"
                : $"unknown flag '{unknown}' in '{quoted}' (known: {FlagNames.Known})");
        }

        bits = 0;
        bool anyLetter = false;
        foreach (char c in text) anyLetter |= FlagNames.ByLetter(c) is not null;
        foreach (char c in text)
        {
            if (FlagNames.ByLetter(c) is { } bit) { bits |= bit; continue; }
            // "+iq" is a typo among letters; "+foo" is an unknown name.
            throw new FlagUsageException(anyLetter || text.Length == 1
                ? $"unknown flag letter '{c}' in '{quoted}' (known: {FlagNames.Known})"
                : $"unknown flag '{text}' in '{quoted}' (known: {FlagNames.Known})");
        }
        return bits;
    }

    /// <summary>
    /// Combines mode arguments (each starting with '+', '-' or '='). '=' sets exactly the flags
    /// it names (every other flag is cleared) and so cannot be mixed with '+' or '-'; a flag
    /// both set and cleared is refused here rather than by the daemon's EINVAL.
    /// </summary>
    /// <exception cref="FlagUsageException">as above, or an unknown flag.</exception>
    public static FlagExpression Parse(IEnumerable<string> modes)
    {
        ulong add = 0, remove = 0, exact = 0;
        bool sawExact = false, sawAddRemove = false, any = false;
        foreach (string mode in modes)
        {
            any = true;
            ulong bits = ParseFlags(mode);
            switch (mode[0])
            {
                case '+': add |= bits; sawAddRemove = true; break;
                case '-': remove |= bits; sawAddRemove = true; break;
                case '=': exact |= bits; sawExact = true; break;
                default: throw new FlagUsageException($"'{mode}' does not start with '+', '-' or '='");
            }
        }
        if (!any) throw new FlagUsageException("missing flags (+FLAGS, -FLAGS or =FLAGS)");
        if (sawExact && sawAddRemove) throw new FlagUsageException("'=' is incompatible with '+' and '-'");
        if (sawExact) return new FlagExpression(exact, PmemFs.Abi.PmemFsIoctlAbi.FlAll & ~exact);
        if ((add & remove) != 0)
            throw new FlagUsageException($"flag {FlagNames.Format(add & remove)} both set and cleared");
        return new FlagExpression(add, remove);
    }
}
