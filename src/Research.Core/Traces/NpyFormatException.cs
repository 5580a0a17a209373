namespace Research.Core.Traces;

/// <summary>
/// A file that is not a readable NPY array: foreign bytes, an unsupported version or dtype, a
/// malformed or truncated header, or fewer data bytes than the header's shape requires.
/// </summary>
/// <remarks>The message always starts with the file's path, then says what is wrong and, where
/// there is one, how to fix it.</remarks>
public sealed class NpyFormatException : IOException
{
    /// <summary>Creates the exception; the message is <c>"{path}: {problem}"</c>.</summary>
    /// <param name="path">The file that could not be read.</param>
    /// <param name="problem">What is wrong with it, in words.</param>
    public NpyFormatException(string path, string problem)
        : base($"{path}: {problem}")
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file that could not be read.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with the file, without the path.</summary>
    public string Problem { get; }
}

/// <summary>
/// A trace directory whose manifest is missing, foreign, of another version, or does not match
/// the <c>.npy</c> files beside it.
/// </summary>
/// <remarks>The message always starts with the path of the offending file (the manifest or a
/// series file), then says what is wrong.</remarks>
public sealed class TraceFormatException : IOException
{
    /// <summary>Creates the exception; the message is <c>"{path}: {problem}"</c>.</summary>
    /// <param name="path">The manifest or series file at fault.</param>
    /// <param name="problem">What is wrong, in words.</param>
    public TraceFormatException(string path, string problem)
        : base($"{path}: {problem}")
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The manifest or series file at fault.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the path.</summary>
    public string Problem { get; }
}
