namespace PmemFs.Cli.Tests;

/// <summary>What one pmemfs command line did.</summary>
internal sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string[] OutLines => Lines(Out);
    public string[] ErrLines => Lines(Err);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Err}";
}

/// <summary>Runs the CLI in this process, capturing both streams.</summary>
internal static class Cli
{
    public static CliResult Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>mkfs of a fresh image of <paramref name="size"/>; fails the test if it does not work.</summary>
    public static void Mkfs(TempImage image, string size = "32M", params string[] extra)
    {
        var r = Run(["mkfs", image.Path, "--size", size, "--quiet", .. extra]);
        Assert.True(r.ExitCode == 0, r.ToString());
    }
}
