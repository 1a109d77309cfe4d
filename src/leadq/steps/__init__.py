"""Steps: the commands' edges, where files and stores are read and written; each step calls the domain layers below."""
