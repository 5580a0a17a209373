namespace Research.Analysis
module internal Placeholder = let x = 0
