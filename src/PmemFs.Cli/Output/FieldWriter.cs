namespace PmemFs.Cli.Output;

/// <summary>Aligned "name: value" lines, the human output of mkfs and info.</summary>
public sealed class FieldWriter(TextWriter output, int nameWidth = 28, string indent = "")
{
    public void Field(string name, string value) =>
        output.WriteLine($"{indent}{(name + ":").PadRight(nameWidth)}{CliConsole.OneLine(value)}");

    public void Field(string name, long value) => Field(name, value.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
