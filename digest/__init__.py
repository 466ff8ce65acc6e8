"""The weekly digest: what is new in the knowledge base and what officials asked about (for officials' channels),
and the knowledge gaps (for the consultants), built from the question log and posted once per channel and week."""
